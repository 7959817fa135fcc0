// The dev and preview servers proxy /graphql (HTTP and websocket) to Tally,
// so the page is same-origin with its API and needs no CORS.
//   TALLY_URL=http://127.0.0.1:8000 npm run dev
import { defineConfig } from 'vite';

const target = process.env.TALLY_URL ?? 'http://127.0.0.1:8000';
const proxy = {
  '/graphql': { target, ws: true, changeOrigin: true },
};

export default defineConfig({
  server: { proxy },
  preview: { proxy },
  build: { target: 'es2022' },
});
