import assert from "node:assert/strict";
import { test } from "node:test";
import { BracePatternError, expandBraces, MAX_EXPANDED_NAMES } from "../../src/data/braces.js";

test("a pattern without braces stands for itself", () => {
  assert.deepEqual(expandBraces("shards/data.tar"), ["shards/data.tar"]);
});

test("integer ranges keep the zero padding of their bounds", () => {
  assert.deepEqual(expandBraces("shards/{00000..00003}.tar"), [
    "shards/00000.tar",
    "shards/00001.tar",
    "shards/00002.tar",
    "shards/00003.tar",
  ]);
  assert.deepEqual(expandBraces("{8..11}"), ["8", "9", "10", "11"]);
  assert.deepEqual(expandBraces("{07..10}"), ["07", "08", "09", "10"]);
  assert.deepEqual(expandBraces("{9..010}"), ["009", "010"]);
});

test("ranges run downwards, take a step and allow negative numbers", () => {
  assert.deepEqual(expandBraces("{3..1}"), ["3", "2", "1"]);
  assert.deepEqual(expandBraces("{0..10..5}"), ["0", "5", "10"]);
  assert.deepEqual(expandBraces("{10..0..-4}"), ["10", "6", "2"]);
  assert.deepEqual(expandBraces("{1..-1}"), ["1", "0", "-1"]);
  assert.deepEqual(expandBraces("{-01..01}"), ["-01", "000", "001"]);
});

test("comma lists, empty items, nesting and several groups (the first varies slowest)", () => {
  assert.deepEqual(expandBraces("{a,b}.tar"), ["a.tar", "b.tar"]);
  assert.deepEqual(expandBraces("x{,-v2}"), ["x", "x-v2"]);
  assert.deepEqual(expandBraces("{a,b{1..2}}"), ["a", "b1", "b2"]);
  assert.deepEqual(expandBraces("{train,val}/{0..1}.tar"), [
    "train/0.tar",
    "train/1.tar",
    "val/0.tar",
    "val/1.tar",
  ]);
});

test("unbalanced braces and groups that are neither list nor range are errors quoting the pattern", () => {
  for (const pattern of ["a{1..2", "a}1{", "{a,b}}", "x{0..1"]) {
    assert.throws(
      () => expandBraces(pattern),
      (err: Error) => {
        assert.ok(err instanceof BracePatternError);
        assert.match(err.message, /unbalanced braces/);
        assert.ok(err.message.includes(pattern));
        return true;
      },
    );
  }
  assert.throws(() => expandBraces("shards/{0000-0099}.tar"), /neither a comma list .* nor an integer range/);
  assert.throws(() => expandBraces("{}"), BracePatternError);
});

test("a pattern standing for more than a million names is refused before it is built", () => {
  const started = performance.now();
  assert.throws(
    () => expandBraces("shards/{0..9999999}.tar"),
    /pattern "shards\/\{0\.\.9999999\}\.tar" stands for 10,000,000 names, more than 1,000,000; check its ranges/,
  );
  assert.throws(() => expandBraces("{0..999}/{0..999}/{0..9}.tar"), /stands for 10,000,000 names/);
  assert.throws(() => expandBraces("{0..99999999999999999999}"), BracePatternError);
  assert.ok(performance.now() - started < 5000, "refused quickly");
  assert.equal(expandBraces("{0..999}/{000..999}.tar").length, MAX_EXPANDED_NAMES, "up to the limit is fine");
});
