/// <reference lib="deno.worker" />
/** Capacity-probe worker: runs a fixed floating-point loop and replies with its duration (ms). */
self.onmessage = (e: MessageEvent<{ iterations: number }>) => {
  const start = performance.now();
  let x = 0.5;
  for (let i = 0; i < e.data.iterations; i++) x = Math.sin(x * 1.0001 + i * 1e-9) * 0.999 + 0.3;
  self.postMessage({ ms: performance.now() - start, x });
};
