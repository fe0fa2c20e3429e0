/**
 * `deno task run RECIPE.yaml [options]`: the command line (runtime/cli/cli.ts) with the built-in plugins
 * (builtins.ts). This edge is the one place where the runtime meets the plugins it runs.
 *
 * @module
 */
import { builtins } from "./builtins.ts";
import { main } from "./runtime/cli/cli.ts";

if (import.meta.main) Deno.exit(await main(Deno.args, builtins));
