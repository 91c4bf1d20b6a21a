import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeUtf8 } from "../../src/ingress/body.ts";
import { HttpError } from "../../src/ingress/http-error.ts";

const refused = (bytes: Uint8Array): void =>
  assert.throws(
    () => decodeUtf8(bytes),
    (error: unknown) =>
      error instanceof HttpError && error.status === 400 && error.code === "invalid_encoding",
  );

test("a body decodes to exactly its UTF-8 text, ASCII or not, and nothing else is taken for text", () => {
  for (const text of ['{"a":"b"}', '{"title":"Café ☕ 🚀"}', "\uFEFF{}", ""]) {
    assert.equal(decodeUtf8(Buffer.from(text, "utf8")), text);
  }
  // a view into a larger buffer (as a chunk of a socket read is) decodes its own bytes only
  const whole = Buffer.from('é{"ascii":true}é', "utf8");
  assert.equal(decodeUtf8(whole.subarray(2, whole.length - 2)), '{"ascii":true}');
  assert.equal(decodeUtf8(new Uint8Array(whole.buffer, whole.byteOffset + 2, 14)), '{"ascii":true}');
  // bytes that are Latin-1 text but not UTF-8 are refused, not read as Latin-1
  refused(Buffer.from([0x7b, 0x22, 0xe9, 0x22, 0x7d]));
  refused(Buffer.from([0xff]));
  refused(Buffer.from([0x7b, 0x7d, 0x80]));
});
