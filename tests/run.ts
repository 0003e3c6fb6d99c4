/**
 * `bun run test`: every test in one command. First the type check (`tsc --noEmit`: type errors are a
 * failure like any other), then bun's runner over tests/ (integration tests against a real server and
 * Postgres), then the Durable Streams conformance suite under vitest (bun's runner lacks
 * `describe.runIf`), and ends with one summary line a CI can read: `N pass` / `N fail`.
 */
import { spawn } from "bun";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const extraArgs = process.argv.slice(2);

async function run<T extends { pass: number; fail: number }>(command: string[], parse: (output: string) => T) {
  const child = spawn(command, { cwd: root, stdout: "pipe", stderr: "pipe", env: process.env });
  let output = "";
  const pump = async (stream: ReadableStream<Uint8Array>, sink: NodeJS.WriteStream) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      const text = decoder.decode(chunk, { stream: true });
      output += text;
      sink.write(text);
    }
  };
  await Promise.all([pump(child.stdout as ReadableStream<Uint8Array>, process.stdout), pump(child.stderr as ReadableStream<Uint8Array>, process.stderr)]);
  const code = await child.exited;
  const counts = parse(output.replace(/\x1b\[[0-9;]*m/g, ""));
  // A runner that crashed before reporting still counts as a failure.
  if (code !== 0 && counts.fail === 0) counts.fail = 1;
  return { code, ...counts };
}

// One check: passes when tsc reports nothing, fails (once, whatever the number of errors) otherwise.
const typecheck = await run(["bunx", "tsc", "--noEmit"], (output) => {
  const errors = (output.match(/error TS\d+/g) ?? []).length;
  return { pass: errors === 0 ? 1 : 0, fail: errors === 0 ? 0 : 1, errors };
});
if (typecheck.code !== 0 && typecheck.fail === 0) typecheck.fail = 1;

const bunResult = await run(["bun", "test", "--timeout", "60000", ...extraArgs], (output) => ({
  pass: Number(/^\s*(\d+) pass$/m.exec(output)?.[1] ?? 0),
  fail: Number(/^\s*(\d+) fail$/m.exec(output)?.[1] ?? 0),
}));

let vitestResult = { code: 0, pass: 0, fail: 0 };
const conformanceConfig = "tests/conformance/vitest.config.ts";
if (extraArgs.length === 0 && existsSync(join(root, conformanceConfig))) {
  vitestResult = await run(["bunx", "vitest", "run", "--config", conformanceConfig], (output) => {
    const line = /Tests\s+(.*)$/m.exec(output)?.[1] ?? "";
    return { pass: Number(/(\d+) passed/.exec(line)?.[1] ?? 0), fail: Number(/(\d+) failed/.exec(line)?.[1] ?? 0) };
  });
}

const pass = typecheck.pass + bunResult.pass + vitestResult.pass;
const fail = typecheck.fail + bunResult.fail + vitestResult.fail;
if (process.env.TEST_SUMMARY_FILE) writeFileSync(process.env.TEST_SUMMARY_FILE, JSON.stringify({ pass, fail }));
console.log(`\ntypecheck (tsc --noEmit): ${typecheck.fail === 0 ? "clean" : `${typecheck.errors} error(s)`}`);
console.log(`bun test: ${bunResult.pass} pass, ${bunResult.fail} fail; conformance (vitest): ${vitestResult.pass} pass, ${vitestResult.fail} fail`);
console.log(` ${pass} pass`);
console.log(` ${fail} fail`);
process.exit(typecheck.code !== 0 || bunResult.code !== 0 || vitestResult.code !== 0 || fail > 0 ? 1 : 0);
