#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx's loader, so the installed
// command and the tests always run the same code.
import { register } from "tsx/esm/api";

register();
await import("../src/cli.ts");
