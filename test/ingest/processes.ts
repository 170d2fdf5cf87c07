import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs one of the CLIs (`scripts/<name>.ts`) as a real process, the way `npm run` does (node with
 * tsx's loader). `watch` sees stderr as it grows and may signal the child.
 */
export function runScript(
  name: string,
  args: string[],
  env: Record<string, string>,
  watch?: (stderr: string, child: ChildProcess) => void,
): { child: ChildProcess; exit: Promise<Exit> } {
  // `npm:index` runs `npm run index -- ...` itself: what an operator types, signals and all.
  const [file, argv] = name.startsWith('npm:')
    ? ['npm', ['run', '--silent', name.slice(4), '--', ...args]]
    : [process.execPath, ['--import', 'tsx', `scripts/${name}.ts`, ...args]];
  const child = spawn(file, argv, {
    cwd: ROOT,
    env: { ...process.env, DEVICE: 'cpu', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
    watch?.(stderr, child);
  });
  const exit = new Promise<Exit>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, exit };
}

/** How often a structured log line with this message appears in `text`. */
export const count = (text: string, msg: string) => text.split(`"msg":"${msg}"`).length - 1;
