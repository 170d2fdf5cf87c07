import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import ort from 'onnxruntime-node';
import type { InferenceSession } from 'onnxruntime-node';
import type { Device } from '../config.ts';
import { AppError, describeError } from '../errors.ts';
import type { Logger } from '../logger.ts';

export type { InferenceSession };
export type ExecutionProvider = 'cuda' | 'webgpu' | 'cpu';

export interface SessionOptions {
  device: Device;
  /** 0 = let onnxruntime decide (one per physical core). */
  intraOpThreads: number;
  interOpThreads: number;
  logger: Logger;
  /**
   * Let ORT's worker threads busy-wait between runs. Off suits callers that do JS work between
   * short runs (the trainer's AdamW update): on few cores the spinning threads starve that work.
   * @default true
   */
  spinning?: boolean;
}

/** What this onnxruntime-node install can offer, found without touching a GPU. */
export interface BackendProbe {
  /** The CUDA provider library ships only with `ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci`. */
  cudaInstalled: boolean;
  webgpuBundled: boolean;
  /**
   * On Linux, WebGPU (Dawn) needs the Vulkan loader; without it `auto` skips WebGPU instead of
   * trying it and printing Dawn's warning. Always true elsewhere.
   */
  vulkanLoader?: boolean;
}

const VULKAN_LOADER_PATHS = [
  '/usr/lib/x86_64-linux-gnu/libvulkan.so.1',
  '/usr/lib/aarch64-linux-gnu/libvulkan.so.1',
  '/usr/lib64/libvulkan.so.1',
  '/usr/lib/libvulkan.so.1',
  '/usr/local/lib/libvulkan.so.1',
];

export interface ProviderChoice {
  /** Providers to try in order; the session is created with the first that works. */
  candidates: ExecutionProvider[];
  /** Why, in words, for the log line. */
  reason: string;
}

export const CUDA_FIX =
  'install the CUDA build of onnxruntime-node with `ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci` ' +
  '(needs an NVIDIA driver, CUDA 12 and cuDNN 9), or set DEVICE=cpu or DEVICE=auto';

/** Looks at the installed onnxruntime-node binaries: which GPU providers could load at all. */
export function probeBackends(): BackendProbe {
  const backends = ort.listSupportedBackends();
  const require = createRequire(import.meta.url);
  const pkgDir = path.dirname(require.resolve('onnxruntime-node/package.json'));
  const binDir = path.join(pkgDir, 'bin', 'napi-v6', process.platform, process.arch);
  const cudaLib =
    process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  return {
    cudaInstalled: existsSync(path.join(binDir, cudaLib)),
    webgpuBundled: backends.some((b) => b.name === 'webgpu'),
    vulkanLoader: process.platform !== 'linux' || VULKAN_LOADER_PATHS.some((p) => existsSync(p)),
  };
}

/**
 * Decides which execution providers to try for a DEVICE setting. `cpu` and explicit GPU choices
 * are exact; `auto` lists the GPU providers this build has, then CPU as the fallback. An explicit
 * `cuda` on a build without the CUDA provider fails here with the fix in the message.
 */
export function chooseExecutionProviders(
  device: Device,
  probe: BackendProbe = probeBackends(),
): ProviderChoice {
  switch (device) {
    case 'cpu':
      return { candidates: ['cpu'], reason: 'DEVICE=cpu' };
    case 'cuda':
      if (!probe.cudaInstalled) {
        throw new AppError(
          'DEVICE_UNAVAILABLE',
          `DEVICE=cuda but this onnxruntime-node has no CUDA provider: ${CUDA_FIX}`,
        );
      }
      return { candidates: ['cuda'], reason: 'DEVICE=cuda' };
    case 'webgpu':
      if (!probe.webgpuBundled) {
        throw new AppError(
          'DEVICE_UNAVAILABLE',
          'DEVICE=webgpu but this onnxruntime-node build has no WebGPU provider; use DEVICE=auto or cpu',
        );
      }
      return { candidates: ['webgpu'], reason: 'DEVICE=webgpu' };
    case 'auto': {
      const candidates: ExecutionProvider[] = [];
      const notes: string[] = [];
      if (probe.cudaInstalled) candidates.push('cuda');
      else notes.push('CUDA provider not installed (ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci adds it)');
      if (!probe.webgpuBundled) notes.push('no WebGPU provider in this build');
      else if (probe.vulkanLoader === false) notes.push('WebGPU skipped: no Vulkan loader (libvulkan.so.1)');
      else candidates.push('webgpu');
      candidates.push('cpu');
      return { candidates, reason: notes.length > 0 ? notes.join('; ') : 'GPU providers installed' };
    }
  }
}

/**
 * Providers `auto` already found unusable in this process (no adapter, no driver), so later
 * sessions do not retry them.
 */
const failedProviders = new Map<ExecutionProvider, string>();

const providers = new WeakMap<InferenceSession, ExecutionProvider>();

/** The execution provider a session from `createSession` runs on (callers size batches by it). */
export function providerOf(session: InferenceSession): ExecutionProvider | undefined {
  return providers.get(session);
}

/**
 * Creates an onnxruntime session for a model (bytes or a file path) on the device the config
 * asks for. `auto` tries the GPU providers the build has and falls back to CPU, saying for each
 * session in the log what it chose and why; an explicit GPU device that cannot start is DEVICE_UNAVAILABLE.
 */
export async function createSession(
  model: Uint8Array | string,
  options: SessionOptions,
): Promise<InferenceSession> {
  const choice = chooseExecutionProviders(options.device);
  const base: InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    // Warnings from ORT's own logger go straight to stderr; only errors are worth that.
    logSeverityLevel: 3,
    ...(options.intraOpThreads > 0 ? { intraOpNumThreads: options.intraOpThreads } : {}),
    ...(options.interOpThreads > 0 ? { interOpNumThreads: options.interOpThreads } : {}),
    ...(options.spinning === false
      ? { extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } } }
      : {}),
  };
  const tried: string[] = [];
  for (const provider of choice.candidates) {
    const known = failedProviders.get(provider);
    if (options.device === 'auto' && known !== undefined) {
      tried.push(`${provider}: ${known}`);
      continue;
    }
    try {
      const session = await openSession(model, { ...base, executionProviders: [provider] });
      providers.set(session, provider);
      // Each session says where it runs: the text, image and projection models can land apart.
      if (options.device === 'auto') {
        const why = [choice.reason, ...tried].join('; ');
        const name = typeof model === 'string' ? path.basename(model) : `a ${model.byteLength}-byte model`;
        options.logger.info(
          { device: 'auto', provider, tried, model: name },
          `DEVICE=auto chose ${provider} for ${name}${why ? ` (${why})` : ''}`,
        );
      }
      return session;
    } catch (error) {
      if (error instanceof AppError) throw error;
      const reason = firstLine(describeError(error));
      if (options.device !== 'auto' || provider === 'cpu') {
        throw new AppError(
          provider === 'cpu' ? 'MODEL_INVALID' : 'DEVICE_UNAVAILABLE',
          provider === 'cpu'
            ? `onnxruntime could not load the model: ${reason}`
            : `DEVICE=${provider} could not start: ${reason}. ${provider === 'cuda' ? `Fix: ${CUDA_FIX}` : 'Use DEVICE=auto or cpu.'}`,
          { cause: error },
        );
      }
      failedProviders.set(provider, reason);
      tried.push(`${provider}: ${reason}`);
    }
  }
  throw new AppError('DEVICE_UNAVAILABLE', `no execution provider could run the model (${tried.join('; ')})`);
}

async function openSession(
  model: Uint8Array | string,
  options: InferenceSession.SessionOptions,
): Promise<InferenceSession> {
  return typeof model === 'string'
    ? ort.InferenceSession.create(model, options)
    : ort.InferenceSession.create(model, options);
}

/** ORT messages start with a source path and an assertion; the "Failed to ..." part is what helps. */
function firstLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim().length > 0) ?? text;
  const helpful = /Failed to .*$/.exec(line)?.[0] ?? line;
  return helpful.length > 200 ? `${helpful.slice(0, 200)}...` : helpful;
}
