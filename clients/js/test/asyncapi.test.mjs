// The AsyncAPI document of the WebSocket protocol (docs/asyncapi.json): it
// must be a valid AsyncAPI 3.0 document for @asyncapi/parser, every example
// it carries must match its message's payload schema, and every example
// frame of docs/protocol.md must match the schema of its type and direction.
//
// Run: cd clients/js && node --test test/asyncapi.test.mjs

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";

import { DiagnosticSeverity, Parser } from "@asyncapi/parser";
import Ajv from "ajv";

const docs = new URL("../../../docs/", import.meta.url);
const text = await readFile(new URL("asyncapi.json", docs), "utf8");
const protocol = await readFile(new URL("protocol.md", docs), "utf8");
const doc = JSON.parse(text);

/** The node a local `$ref` ("#/a/b") points at in the document. */
function pointer(ref) {
  assert.ok(ref.startsWith("#/"), `only local $refs are used: ${ref}`);
  return ref
    .slice(2)
    .split("/")
    .map((part) => part.replaceAll("~1", "/").replaceAll("~0", "~"))
    .reduce((node, key) => {
      assert.ok(node !== null && typeof node === "object" && key in node, `$ref ${ref} does not resolve`);
      return node[key];
    }, doc);
}

/** `node` with every `$ref` replaced by what it points at (the document has no cycles). */
function resolve(node, path = []) {
  if (Array.isArray(node)) return node.map((item) => resolve(item, path));
  if (node === null || typeof node !== "object") return node;
  if (typeof node.$ref === "string") {
    assert.ok(!path.includes(node.$ref), `circular $ref ${node.$ref}`);
    return resolve(pointer(node.$ref), [...path, node.$ref]);
  }
  return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, resolve(value, path)]));
}

// Strict: a misspelt keyword in a schema is an error, not a silent no-op.
// `discriminator` is AsyncAPI's own keyword (a property name), which
// JSON Schema does not know.
const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
ajv.addKeyword("discriminator");

/** The wire `type` of a message (its payload's `type` constant). */
function typeOf(message) {
  const { payload } = resolve(message);
  // The `event` frame is a oneOf of one schema per kind, all of type "event".
  return payload.properties?.type?.const ?? payload.oneOf?.[0].properties.type.const;
}

/** Message keys by wire `type`, of the operations with this action. */
function direction(action) {
  const keys = Object.values(doc.operations)
    .filter((operation) => operation.action === action)
    .flatMap((operation) => operation.messages.map((message) => message.$ref.split("/").pop()));
  return new Map(keys.map((key) => [typeOf(doc.channels.ws.messages[key]), key]));
}

// Built on first use rather than at load, so that a broken document still
// gets the parser's diagnostics printed by the first test.
let built;
/** A validator per channel message key, and the keys by direction (the document is the server's: it receives client frames). */
function model() {
  built ??= {
    validators: new Map(
      Object.entries(doc.channels.ws.messages).map(([key, message]) => [key, ajv.compile(resolve(message).payload)]),
    ),
    byDirection: { client: direction("receive"), server: direction("send") },
  };
  return built;
}

/** The validator of the `type` frame sent by `side` ("client" or "server"). */
function validatorOf(side, type) {
  const { validators, byDirection } = model();
  const key = byDirection[side].get(type);
  assert.ok(key, `no ${side} frame of type ${JSON.stringify(type)} in the document`);
  return validators.get(key);
}

/** Asserts that `frame` matches the schema of its `type` sent by `side`. */
function assertFrame(side, frame, where) {
  const validate = validatorOf(side, frame.type);
  assert.ok(validate(frame), `${where}: ${JSON.stringify(frame)}\n${ajv.errorsText(validate.errors)}`);
}

/** The lines of `protocol.md` between the heading `start` and the next heading of its level. */
function section(start) {
  const lines = protocol.split("\n");
  const from = lines.indexOf(start);
  assert.ok(from >= 0, `protocol.md has no heading ${start}`);
  const level = start.split(" ")[0];
  const to = lines.findIndex((line, i) => i > from && line.startsWith(`${level} `));
  return lines.slice(from + 1, to < 0 ? undefined : to);
}

test("the parser accepts the document without errors", async () => {
  const { document, diagnostics } = await new Parser().parse(text);
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
  for (const d of diagnostics) {
    const level = d.severity === DiagnosticSeverity.Error ? "error" : "note";
    console.error(`${level}: ${d.code} at ${d.path.join(".")}: ${d.message}`);
  }
  assert.deepEqual(errors, []);
  assert.ok(document, "no document parsed");
  assert.equal(document.version(), "3.0.0");
  assert.equal(document.operations().length, Object.keys(doc.operations).length);
  assert.equal(document.channels().get("ws").messages().length, Object.keys(doc.channels.ws.messages).length);
});

test("every channel message is in exactly one direction", () => {
  const { byDirection } = model();
  const counted = byDirection.client.size + byDirection.server.size;
  assert.equal(counted, Object.keys(doc.channels.ws.messages).length);
  for (const operation of Object.values(doc.operations)) {
    for (const reply of operation.reply?.messages ?? []) {
      const key = reply.$ref.split("/").pop();
      assert.equal(byDirection.server.get(typeOf(doc.channels.ws.messages[key])), key, `reply ${key} is a server frame`);
    }
  }
});

test("every example of a message matches its payload schema", () => {
  const { validators } = model();
  let checked = 0;
  for (const [key, message] of Object.entries(doc.channels.ws.messages)) {
    const { examples = [] } = resolve(message);
    assert.ok(examples.length > 0, `${key} has no example`);
    for (const example of examples) {
      const validate = validators.get(key);
      assert.ok(validate(example.payload), `${key} example ${example.name}: ${ajv.errorsText(validate.errors)}`);
      checked += 1;
    }
  }
  assert.ok(checked >= validators.size);
});

test("every event kind has an example", () => {
  const event = resolve(doc.channels.ws.messages[model().byDirection.server.get("event")]);
  const kinds = event.payload.oneOf.map((schema) => schema.properties.kind.const).sort();
  assert.deepEqual(event.examples.map((example) => example.payload.kind).sort(), kinds);
});

test("the schemas refuse what the protocol refuses", () => {
  const refused = [
    ["client", { type: "send", id: "c1", to: { user: 7, group: 3 }, body: "x" }],
    ["client", { type: "send", id: "c1", to: { user: "7" }, body: "x" }],
    ["client", { type: "send", id: "", to: { user: 7 }, body: "x" }],
    ["client", { type: "send", id: "c1", to: { user: 7 }, body: "" }],
    ["client", { type: "send", id: "c1", to: { user: 7 }, body: "x".repeat(4001) }],
    ["client", { type: "ack", msg_ids: [12] }],
    ["client", { type: "ack", msg_ids: Array(1001).fill("12") }],
    ["client", { type: "read", conv: { group: 3 } }],
    ["client", { type: "typing" }],
    ["server", { type: "error", id: null, code: "no_such_code", message: "x" }],
    ["server", { type: "event", kind: "group_renamed", group_id: 1 }],
    ["server", { type: "event", kind: "no_such_kind", group_id: 1 }],
  ];
  for (const [side, frame] of refused) {
    const validate = validatorOf(side, frame.type);
    assert.equal(validate(frame), false, `accepted ${JSON.stringify(frame).slice(0, 120)}`);
  }
});

test("every example frame of protocol.md's Frames section matches its schema", () => {
  let side;
  let fenced = false;
  let checked = 0;
  for (const line of section("### Frames")) {
    if (line.startsWith("#### Client")) side = "client";
    if (line.startsWith("#### Server")) side = "server";
    if (line.startsWith("```")) fenced = !fenced;
    if (fenced && line.startsWith('{"type"')) {
      assertFrame(side, JSON.parse(line), "protocol.md, Frames");
      checked += 1;
    }
  }
  assert.ok(checked >= 14, `only ${checked} example frames found`);
});

test("every frame of protocol.md's example session matches its schema, or is refused as invalid", () => {
  const frames = section("### Example session")
    .map((line) => line.match(/^([→←]) (\{.*\})$/u))
    .filter(Boolean)
    .map(([, arrow, json]) => ({ side: arrow === "→" ? "client" : "server", frame: JSON.parse(json) }));
  frames.forEach(({ side, frame }, i) => {
    const answer = frames[i + 1]?.frame;
    // The session shows a malformed send on purpose: the server's answer says so.
    const malformed = side === "client" && answer?.type === "error" && answer.id === frame.id &&
      ["invalid_frame", "too_large"].includes(answer.code);
    if (malformed) {
      const validate = validatorOf("client", frame.type);
      assert.equal(validate(frame), false, `the schema accepts ${JSON.stringify(frame)}, refused with ${answer.code}`);
    } else {
      assertFrame(side, frame, "protocol.md, Example session");
    }
  });
  assert.ok(frames.length >= 10, `only ${frames.length} example frames found`);
});
