import assert from "node:assert/strict";
import { serverOptions } from "./server.ts";

Deno.test("serverOptions() binds to 127.0.0.1:8787 unless told otherwise", () => {
  assert.deepEqual(serverOptions([]), { port: 8787, host: "127.0.0.1", recipes: "recipes", out: "out/ui" });
  assert.deepEqual(serverOptions(["--port", "0", "--host", "0.0.0.0", "--out", "x"]), {
    port: 0,
    host: "0.0.0.0",
    recipes: "recipes",
    out: "x",
  });
});

Deno.test("serverOptions() refuses a bad port and unknown flags with one line", () => {
  assert.throws(() => serverOptions(["--port", "http"]), {
    message: 'Cannot serve: port "http" is not an integer in [0, 65535]',
  });
  assert.throws(() => serverOptions(["--port", "70000"]), { message: /^Cannot serve: port "70000"/ });
  assert.throws(() => serverOptions(["--verbose"]), { message: /^Cannot serve: Unknown option '--verbose'/ });
});
