import js from "@eslint/js";
import importX from "eslint-plugin-import-x";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", ".herald/", ".kafka/", "coverage/"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ["*.js", "bin/*.js"] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { "import-x": importX },
    settings: { "import-x/resolver-next": [importX.createNodeResolver({ extensions: [".ts", ".js"] })] },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: { arguments: false } }],
      "@typescript-eslint/switch-exhaustiveness-check": [
        "error",
        { considerDefaultExhaustiveForUnions: true },
      ],
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
      // An interface method may be async without awaiting (a backend with nothing to wait for).
      "@typescript-eslint/require-await": "off",
      "import-x/no-cycle": "error",
      // Nothing registers itself by being imported: every module is imported for what it exports.
      "import-x/no-unassigned-import": "error",
      "no-restricted-syntax": [
        "error",
        {
          selector: "MemberExpression[object.name='process'][property.name='env']",
          message: "Read configuration in src/config.ts only.",
        },
      ],
    },
  },
  {
    // The leaves of the kernel: CloudEvents, filters and resource schemas know nothing above them.
    files: ["src/events/**", "src/filters/**", "src/resources/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex:
                "(^|/)(control|api|cli|dispatcher|ingress|adapters|sources)/|(^|/)(herald|plugins|default-plugins|config|metrics|tracing|logger)\\.js$",
              message: "src/events, src/filters and src/resources import only each other and src/errors.ts.",
            },
          ],
        },
      ],
    },
  },
  {
    // Plug-ins see the contracts, the resource schemas and the event and error modules, nothing else.
    files: ["adapters/**", "sources/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: "^(\\.\\./)+src/(?!events/|errors\\.js$|resources/|config-slice\\.js$)",
              message:
                "A plug-in imports only its contract (adapters/adapter.ts, sources/source.ts, src/config-slice.ts), the resource schemas, and the event and error modules.",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["src/config.ts", "test/**", "bench/**"],
    rules: { "no-restricted-syntax": "off" },
  },
  {
    // node:test's describe/it return promises the runner itself awaits.
    files: ["test/**", "bench/**"],
    rules: {
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          allowForKnownSafeCalls: [
            { from: "package", package: "node:test", name: ["describe", "it", "before", "after", "test"] },
          ],
        },
      ],
    },
  },
  {
    files: ["**/*.js"],
    ...tseslint.configs.disableTypeChecked,
  },
);
