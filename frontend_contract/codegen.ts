// TypeScript types of the dashboards' operations, as frontend teams generate them
// (`npm run codegen`, or `make contract-types` from the repository root).
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "schema.graphql",
  documents: ["operations/**/*.graphql"],
  ignoreNoDocuments: false,
  generates: {
    "generated/": {
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: {
        strictScalars: true,
        scalars: {
          DateTime: "string",
          Date: "string",
          Decimal: "string",
          CurrencyCode: "string",
          JSON: "unknown",
          Upload: "File",
        },
        enumType: "string-literal",
        futureProofEnums: true,
        useTypeImports: true,
      },
    },
  },
};

export default config;
