import assert from "node:assert/strict";
import { join } from "node:path";
import type { Bundle } from "./bundle.ts";
import { BundleError } from "../core/errors.ts";
import { loadTokenizer, preparePrompt, tokenizePrompts } from "./tokenize.ts";

const SETTINGS = {
  max_length: 6,
  pad_id: 0,
  eos_id: 1,
  prompt_suffix: " aesthetic score: 6.5.",
  lowercase: true,
};

Deno.test("preparePrompt() appends the suffix once, collapses spaces and lower-cases", () => {
  assert.equal(preparePrompt("  A Red   circle ", SETTINGS), "a red circle aesthetic score: 6.5.");
  assert.equal(preparePrompt("a cat. Aesthetic score: 6.5.", SETTINGS), "a cat. aesthetic score: 6.5.");
  assert.equal(preparePrompt("Keep Case", { ...SETTINGS, prompt_suffix: "", lowercase: false }), "Keep Case");
});

Deno.test("tokenizePrompts() appends EOS, pads, masks, and truncates keeping EOS with a warning", () => {
  const encode = (s: string) => s.split(" ").map((w) => w.length + 10);
  const settings = { ...SETTINGS, prompt_suffix: "" };
  const t = tokenizePrompts(encode, ["ab c", "one two three four five six seven"], settings);
  assert.deepEqual(t.inputIds.dims, [2, 6]);
  assert.deepEqual([...t.inputIds.data].map(Number), [12, 11, 1, 0, 0, 0, 13, 13, 15, 14, 14, 1]);
  assert.deepEqual([...t.attentionMask.data].map(Number), [1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
  assert.deepEqual(t.lengths, [3, 6]);
  assert.equal(t.warnings.length, 1);
  assert.match(t.warnings[0], /^prompt 2 has 8 tokens \(EOS included\), the text encoder takes 6: truncated/);
  // exactly L tokens with EOS: no truncation
  assert.deepEqual(tokenizePrompts(encode, ["a b c d e"], settings).warnings, []);
});

const PY = `
import json, sys
from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
from tokenizers.models import WordLevel, Unigram
out = sys.argv[1]
words = ["<pad>", "</s>", "<unk>", "a", "red", "circle", "moving", "left", "on", "black", "background", ","]
wl = Tokenizer(WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
wl.normalizer = normalizers.Lowercase()
wl.pre_tokenizer = pre_tokenizers.Whitespace()
wl.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [(p, -float(i % 7) - 1.0) for i, p in enumerate(
    ["\u2581a", "\u2581red", "\u2581circ", "le", "\u2581moving", "\u2581left", "\u2581on", "\u2581b", "lack",
     "\u2581black", "\u2581back", "ground", "\u2581", "a", "e", "r", "d", "c", "i", "l", "o", "n", "g", "k", "b",
     "m", "v", "t", "f", "s", "u", ","])]
ug = Tokenizer(Unigram(pieces, unk_id=2))
ug.pre_tokenizer = pre_tokenizers.Metaspace()
prompts = json.loads(sys.stdin.read())
for name, tok in (("words", wl), ("unigram", ug)):
    tok.save(f"{out}/{name}.json")
    print(json.dumps({name: [tok.encode(p, add_special_tokens=False).ids for p in prompts]}))
`;

Deno.test("loadTokenizer() encodes like the Python tokenizers library (WordLevel and Unigram)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const prompts = [
      "a red circle moving left on a black background",
      "a circle, moving left",
      "a zebra on a blackbackground",
      "",
      "red  red\tred",
    ];
    const py = new Deno.Command(join(import.meta.dirname!, "..", "..", "scripts", "py"), {
      args: ["-c", PY, dir],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = py.stdin.getWriter();
    await w.write(new TextEncoder().encode(JSON.stringify(prompts)));
    await w.close();
    const out = await py.output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const expected: Record<string, number[][]> = Object.assign(
      {},
      ...new TextDecoder().decode(out.stdout).trim().split("\n").map((l) => JSON.parse(l)),
    );
    for (const name of ["words", "unigram"]) {
      const bundle = {
        name,
        dir,
        text: { tokenizer: `${name}.json`, eos_id: 1, pad_id: 0 },
      } as unknown as Bundle;
      const encode = await loadTokenizer(bundle);
      assert.ok(expected[name][0].length >= 5, "the oracle tokenized something");
      assert.deepEqual(prompts.map(encode), expected[name], name);
    }
    const none = { name: "fixture", dir, text: { tokenizer: null } } as unknown as Bundle;
    await assert.rejects(() => loadTokenizer(none), BundleError, "has no tokenizer");
    await Deno.writeTextFile(join(dir, "broken.json"), "{ not json");
    const broken = {
      name: "b",
      dir,
      text: { tokenizer: "broken.json", eos_id: 1, pad_id: 0 },
    } as unknown as Bundle;
    await assert.rejects(() => loadTokenizer(broken), BundleError, "Cannot load tokenizer");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
