// graphql-codegen config: typed documents for src/**/*.ts from the server's SDL.
//
// Until the server's schema.graphql has the Subscription type (it is being
// added), pending-subscriptions.graphql supplies the agreed contract so that
// the subscription documents type-check; once schema.graphql defines
// `type Subscription` that file is ignored (and can be deleted).
import { readFileSync } from 'node:fs';
import type { CodegenConfig } from '@graphql-codegen/cli';

// TALLY_SCHEMA: another SDL file to check the documents against (e.g. `tally schema > /tmp/s.graphql`).
const serverSchema = process.env.TALLY_SCHEMA ?? '../../schema.graphql';
const sdl = readFileSync(new URL(serverSchema, new URL('.', import.meta.url)), 'utf8');
const hasSubscriptions = /^\s*type\s+Subscription\b/m.test(sdl);
if (!hasSubscriptions) {
  console.warn(
    `codegen: ${serverSchema} has no Subscription type yet; using pending-subscriptions.graphql (the agreed contract)`,
  );
}

const config: CodegenConfig = {
  schema: hasSubscriptions ? [serverSchema] : [serverSchema, 'pending-subscriptions.graphql'],
  documents: ['src/**/*.ts', '!src/gql/**'],
  ignoreNoDocuments: false,
  generates: {
    'src/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        strictScalars: true,
        scalars: {
          UUID: 'string',
          Decimal: 'string',
          DateTime: 'string',
          JSON: 'unknown',
        },
      },
    },
  },
};

export default config;
