// graphql-codegen config: typed documents for src/**/*.ts from the server's SDL.
// TALLY_SCHEMA: another SDL file to check the documents against
// (e.g. `tally schema > /tmp/s.graphql`).
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: process.env.TALLY_SCHEMA ?? '../../schema.graphql',
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
