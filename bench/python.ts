/** Runs a Python reference script under Debian's interpreter and parses the JSON it prints on stdout. */
import { spawn } from "node:child_process";

/** Debian's interpreter, which has python3-torch and python3-sklearn (not the python3 first on PATH). */
export const PYTHON = "/usr/bin/python3";

/** Progress lines on the script's stderr pass through to ours. */
export function runPythonJson<T>(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, args, { env, stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(JSON.parse(stdout) as T);
      else reject(new Error(`${PYTHON} ${args.join(" ")} exited with code ${code}`));
    });
  });
}
