import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import { AppError } from '../errors.ts';
import type { ModelPart } from './profiles.ts';

/** Checks that every file of a model part is there; the message lists what is missing and how to fix it. */
export function assertPartFiles(dir: string, part: ModelPart, profile: string, role: 'text' | 'image'): void {
  const missing = part.files.filter((rel) => !existsSync(path.join(dir, rel)));
  if (missing.length === 0) return;
  throw new AppError(
    'MODEL_MISSING',
    `${profile} ${role} model is incomplete in ${dir}: missing ${missing.join(', ')}. ` +
      `Run \`npm run models -- fetch ${profile}\` (needs internet) or copy the files of ${part.repo} there by hand.`,
    { details: { dir, missing, repo: part.repo } },
  );
}

/**
 * Writes a part's `supplied` JSON files (the hub repository has none) when missing or different,
 * so a bare ONNX export gets the config the loader reads.
 */
export async function writeSuppliedFiles(dir: string, part: ModelPart): Promise<void> {
  for (const [name, content] of Object.entries(part.supplied ?? {})) {
    const file = path.join(dir, name);
    const text = `${JSON.stringify(content, null, 2)}\n`;
    const current = await readFile(file, 'utf8').catch(() => undefined);
    if (current === text) continue;
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, text);
  }
}

export async function readJson(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new AppError('MODEL_MISSING', `cannot read ${file}`, { cause: error });
  }
  try {
    const value: unknown = JSON.parse(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw new Error('not a JSON object');
    return value as Record<string, unknown>;
  } catch (error) {
    throw new AppError('MODEL_INVALID', `${file} is not a valid JSON object`, { cause: error });
  }
}

/** Symbolic-or-fixed shape of a session input/output, `undefined` when the graph does not say. */
export function shapeOf(
  metadata: readonly InferenceSession.ValueMetadata[],
  name: string,
): readonly (number | string)[] | undefined {
  const m = metadata.find((v) => v.name === name);
  return m !== undefined && m.isTensor ? m.shape : undefined;
}

export function describeIo(session: InferenceSession): string {
  const fmt = (list: readonly InferenceSession.ValueMetadata[]) =>
    list.map((m) => (m.isTensor ? `${m.name}[${m.shape.join(',')}]:${m.type}` : m.name)).join(', ');
  return `inputs ${fmt(session.inputMetadata)}; outputs ${fmt(session.outputMetadata)}`;
}
