// A klaw-wire version 1 peer in JavaScript, written from the specification
// (docs/user-guide/wire-spec.md), on @msgpack/msgpack. The interop tests run it:
//
//   node klaw_peer.mjs golden VECTORS_JSON FRAMES_BIN   check the golden vectors
//   node klaw_peer.mjs tcp PORT                          talk to a klaw-wire service
//
// Each mode prints one JSON line per step and a last line {"done": true, ...}; it exits
// 0 when every check held, 1 otherwise, 2 on a usage error.

import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { Decoder, Encoder } from "@msgpack/msgpack";

// useBigInt64: int64/uint64 values decode to BigInt (no precision lost), and BigInt
// encodes as int64/uint64. Numbers of 2**32 and more would then encode as float64,
// which klaw refuses for an integer: `wire` below turns every such integer into a BigInt.
const decoder = new Decoder({ useBigInt64: true });
const encoder = new Encoder({ useBigInt64: true });

const UINT64_MAX = 2n ** 64n - 1n;
const TAGS = { 1: "DataMessage", 2: "ControlMessage", 3: "Heartbeat", 4: "Ack", 5: "WireError" };
const ACTIONS = new Set(["create", "close", "resize", "pause", "resume"]);
// Defaults of the fields after the header, by tag (the payload and action are required).
const FIELDS = {
  1: [["payload", undefined]],
  2: [["action", undefined], ["metadata", null]],
  3: [["sender_id", ""]],
  4: [["acked_seq", 0], ["status", "ok"]],
  5: [["code", ""], ["message", ""], ["details", null]],
};

// What this library cannot see, so this peer cannot refuse (the vectors that show it).
export const LIMITATIONS = {
  float_ts: "a float64 with an integral value decodes to the same Number as an integer",
  invalid_utf8: "strings are decoded with a non-fatal TextDecoder: bad UTF-8 is replaced",
};

const isInteger = (v) => typeof v === "bigint" || Number.isInteger(v);

// Integers as this library writes them as msgspec does: small ones as Numbers (smallest
// encoding), from 2**32 up (or below -2**31) as BigInt (uint64 / int64).
export function wire(value) {
  if (typeof value === "bigint" || Number.isInteger(value)) {
    const big = BigInt(value);
    return big >= -(2n ** 31n) && big < 2n ** 32n ? Number(big) : big;
  }
  if (Array.isArray(value)) return value.map(wire);
  if (value instanceof Uint8Array || value === null || typeof value !== "object") return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, wire(v)]));
}

function uint64(value, where) {
  if (!isInteger(value) || BigInt(value) < 0n || BigInt(value) > UINT64_MAX) {
    throw new Error(`${where} must be a uint64, got ${String(value)}`);
  }
  return BigInt(value);
}

function string(value, where) {
  if (typeof value !== "string") throw new Error(`${where} must be a str`);
  return value;
}

// Read one envelope as a version-1 reader must: fill omitted elements with their
// defaults, drop appended ones, check every rule. Returns {type, header, fields} or throws.
export function readEnvelope(value) {
  if (!Array.isArray(value) || value.length < 1) throw new Error("not an envelope array");
  const tag = value[0];
  if (!isInteger(tag) || !(Number(tag) in TAGS)) throw new Error(`unknown tag ${String(tag)}`);
  const kindOfTag = Number(tag);
  const raw = value.length > 1 ? value[1] : [1, kindOfTag, "", 0, 0];
  if (!Array.isArray(raw)) throw new Error("header must be an array");
  const [version = 1, kind = 1, channelId = "", seq = 0, ts = 0] = raw;
  if (!isInteger(version)) throw new Error("version must be an integer");
  if (BigInt(version) !== 1n) throw new Error(`unknown wire schema version ${String(version)}`);
  if (!isInteger(kind) || Number(kind) !== kindOfTag) throw new Error("header kind must equal the tag");
  const header = {
    kind: kindOfTag,
    channel_id: string(channelId, "channel_id"),
    seq: uint64(seq, "seq"),
    ts: uint64(ts, "ts"),
  };
  const fields = {};
  FIELDS[kindOfTag].forEach(([name, fallback], i) => {
    const present = value.length > 2 + i;
    if (!present && fallback === undefined) throw new Error(`${name} is required`);
    fields[name] = present ? value[2 + i] : fallback;
  });
  if (kindOfTag === 2 && !ACTIONS.has(fields.action)) throw new Error("unknown action");
  if (kindOfTag === 3) string(fields.sender_id, "sender_id");
  if (kindOfTag === 4) {
    fields.acked_seq = uint64(fields.acked_seq, "acked_seq");
    string(fields.status, "status");
  }
  if (kindOfTag === 5) ["code", "message"].forEach((name) => string(fields[name], name));
  return { type: TAGS[kindOfTag], header, fields };
}

// Write an envelope in full: [tag, [1, tag, channel_id, seq, ts], ...fields].
export function writeEnvelope({ header, fields }) {
  const tag = header.kind;
  const body = [tag, [1, tag, header.channel_id, header.seq, header.ts]];
  for (const [name] of FIELDS[tag]) body.push(fields[name]);
  return encoder.encode(wire(body));
}

const hex = (bytes) => Buffer.from(bytes).toString("hex");

function frame(body) {
  const out = Buffer.alloc(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  Buffer.from(body).copy(out, 4);
  return out;
}

// Split a byte stream into frame bodies; returns [bodies, rest].
function splitFrames(buffer) {
  const bodies = [];
  let at = 0;
  while (buffer.length - at >= 4) {
    const size = buffer.readUInt32BE(at);
    if (buffer.length - at - 4 < size) break;
    bodies.push(buffer.subarray(at + 4, at + 4 + size));
    at += 4 + size;
  }
  return [bodies, buffer.subarray(at)];
}

function say(record) {
  process.stdout.write(JSON.stringify(record, (_, v) => (typeof v === "bigint" ? v.toString() : v)) + "\n");
}

function golden(vectorsPath, framesPath) {
  const { vectors } = JSON.parse(readFileSync(vectorsPath, "utf8"));
  const mismatches = [];
  const limited = [];
  for (const vector of vectors) {
    let verdict;
    try {
      const message = readEnvelope(decoder.decode(Buffer.from(vector.hex, "hex")));
      verdict = { valid: true, type: message.type, decoded_hex: hex(writeEnvelope(message)) };
    } catch (error) {
      verdict = { valid: false, error: String(error.message ?? error) };
    }
    const agrees =
      verdict.valid === vector.valid &&
      (!vector.valid || (verdict.type === vector.type && verdict.decoded_hex === vector.decoded_hex));
    if (!agrees) (vector.name in LIMITATIONS ? limited : mismatches).push(vector.name);
    say({ vector: vector.name, expected: vector.valid, ...verdict, agrees });
  }
  const [bodies, rest] = splitFrames(readFileSync(framesPath));
  const framed = vectors.filter((v) => v.valid).map((v) => v.hex);
  const framesAgree = rest.length === 0 && bodies.map(hex).join() === framed.join();
  say({ done: true, vectors: vectors.length, mismatches, limited, frames: bodies.length, framesAgree });
  return mismatches.length === 0 && framesAgree ? 0 : 1;
}

// The conversation with the Python service (see tests/test_interop.py), in lockstep: each
// step sends one frame and waits for the replies it names.
async function talk(port) {
  const socket = connect({ host: "127.0.0.1", port });
  let buffered = Buffer.alloc(0);
  const inbox = [];
  let wake = null;
  socket.on("data", (chunk) => {
    const [bodies, rest] = splitFrames(Buffer.concat([buffered, chunk]));
    buffered = rest;
    for (const body of bodies) inbox.push(readEnvelope(decoder.decode(body)));
    if (wake) wake();
  });
  const closed = new Promise((resolve) => socket.on("close", resolve));
  socket.on("error", (error) => {
    say({ error: String(error) });
    process.exit(1);
  });
  await new Promise((resolve) => socket.once("connect", resolve));
  say({ connected: port });

  async function receive() {
    while (inbox.length === 0) await new Promise((resolve) => (wake = resolve));
    const message = inbox.shift();
    say({ received: message.type, header: message.header, fields: message.fields });
    return message;
  }
  const send = (type, header, fields) => {
    const kind = Number(Object.keys(TAGS).find((t) => TAGS[t] === type));
    socket.write(frame(writeEnvelope({ header: { kind, channel_id: "orders", seq: 0, ts: 0, ...header }, fields })));
  };
  const failures = [];
  const expect = (ok, what) => {
    if (!ok) failures.push(what);
  };

  send("Heartbeat", { seq: 1n, ts: BigInt(Date.now()) }, { sender_id: "js-peer" });
  const beat = await receive();
  expect(beat.type === "Heartbeat" && beat.fields.sender_id === "py-service", "heartbeat answered");
  const data = await receive();
  expect(data.type === "DataMessage", "the service's data message");
  send("Ack", { seq: 2n }, { acked_seq: data.header.seq, status: "ok" });
  send("DataMessage", { channel_id: data.header.channel_id, seq: 3n }, { payload: data.fields.payload });
  const echoed = await receive();
  expect(echoed.type === "Ack" && echoed.fields.acked_seq === 3n, "echo acknowledged");
  const order = { order_id: 1, sku: "A-1", quantity: 2, price: 9.5 };
  send("DataMessage", { seq: UINT64_MAX, ts: BigInt(Date.now()) }, { payload: order });
  const big = await receive();
  expect(big.type === "Ack" && big.fields.acked_seq === UINT64_MAX, "uint64 max acknowledged");
  send("ControlMessage", { seq: 5n }, { action: "resize", metadata: { capacity: 64 } });
  const resized = await receive();
  expect(resized.type === "Ack" && resized.fields.acked_seq === 5n, "resize acknowledged");
  // A frame the service must refuse: header kind 1 in an Ack. It answers a WireError.
  socket.write(frame(encoder.encode([4, [1, 1, "orders", 6, 0], 0, "ok"])));
  const refused = await receive();
  expect(refused.type === "WireError" && refused.fields.code === "wire.decode", "bad frame refused");
  send("ControlMessage", { seq: 7n }, { action: "close", metadata: null });
  const closedAck = await receive();
  expect(closedAck.type === "Ack" && closedAck.fields.acked_seq === 7n, "close acknowledged");
  socket.end();
  await closed;
  say({ done: true, failures });
  return failures.length === 0 ? 0 : 1;
}

const [mode, ...args] = process.argv.slice(2);
if (mode === "golden" && args.length === 2) {
  process.exitCode = golden(args[0], args[1]);
} else if (mode === "tcp" && args.length === 1) {
  process.exitCode = await talk(Number(args[0]));
} else {
  process.stderr.write("usage: node klaw_peer.mjs golden VECTORS_JSON FRAMES_BIN | tcp PORT\n");
  process.exitCode = 2;
}
