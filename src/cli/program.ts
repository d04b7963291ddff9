/** The `sseg` command line: argument parsing and printing only; every command calls the library. */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { VERSION } from "../version.js";
import { registerData } from "./data.js";
import { registerEval } from "./eval.js";
import { registerExport } from "./export.js";
import { UsageError } from "./flags.js";
import { registerPseudo } from "./pseudo.js";
import { registerDemo, registerSegment } from "./segment.js";
import { registerSelfTrain } from "./selftrain.js";
import { registerTrain } from "./train.js";

export function buildProgram(): Command {
  const program = new Command("sseg")
    .description("Open-vocabulary semantic segmentation the S-Seg way, in TypeScript.")
    .version(VERSION, "-v, --version")
    .option("--debug", "on an error, print its stack trace too (or set SSEG_DEBUG=1)")
    .showHelpAfterError("(run sseg --help for usage)");
  registerSegment(program);
  registerDemo(program);
  registerPseudo(program);
  registerData(program);
  registerTrain(program);
  registerEval(program);
  registerExport(program);
  registerSelfTrain(program);
  program
    .command("bench")
    .description("engine speed benchmarks side by side with PyTorch (JSON + markdown); see bench/README.md")
    .allowUnknownOption()
    .allowExcessArguments()
    .helpOption(false)
    .action((_options, command: Command) => runBench(command.args));
  return program;
}

/** The harness lives in bench/ (outside the library); run it as its own process with the given flags. */
function runBench(args: string[]): Promise<void> {
  const script = new URL("../../bench/run.js", import.meta.url).pathname;
  if (!existsSync(script))
    throw new Error(
      `sseg bench runs from a clone of the repository (after npm run build): ${script} is missing`,
    );
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: "inherit" });
    child.on("error", reject);
    child.on("exit", (code) => {
      process.exitCode = code ?? 1;
      resolve();
    });
  });
}

/** Parse and run; errors print one line and set a non-zero exit code instead of a stack trace. */
export async function run(argv: string[]): Promise<void> {
  const program = buildProgram().exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    console.error(`sseg: ${(err as Error).message}`);
    if (argv.includes("--debug") || process.env.SSEG_DEBUG === "1") console.error((err as Error).stack);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  }
}
