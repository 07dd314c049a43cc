#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so `npm link` / `npx herald` work from a checkout.
import { register } from "tsx/esm/api";
register();
const { runProcess } = await import("../src/cli/main.ts");
await runProcess();
