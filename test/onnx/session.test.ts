import ort from 'onnxruntime-node';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.ts';
import type { Logger } from '../../src/logger.ts';
import { GraphBuilder } from '../../src/onnx/graph-builder.ts';
import {
  chooseExecutionProviders,
  createSession,
  probeBackends,
  providerOf,
} from '../../src/onnx/session.ts';

function relu(): Uint8Array {
  const g = new GraphBuilder('relu');
  g.input('x', 'float32', ['n']);
  g.node('Relu', ['x'], ['y']);
  g.output('y', 'float32', ['n']);
  return g.toBytes();
}

function capturingLogger(): { logger: Logger; lines: () => { msg: string; provider?: string }[] } {
  const raw: string[] = [];
  const logger: Logger = pino({ level: 'info' }, { write: (s: string) => raw.push(s) });
  return { logger, lines: () => raw.map((s) => JSON.parse(s) as { msg: string; provider?: string }) };
}

describe('chooseExecutionProviders', () => {
  const none = { cudaInstalled: false, webgpuBundled: false };

  it('refuses DEVICE=cuda without the CUDA provider and names the fix', () => {
    let error: unknown;
    try {
      chooseExecutionProviders('cuda', none);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('DEVICE_UNAVAILABLE');
    expect((error as AppError).message).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci');
    expect((error as AppError).message).toContain('CUDA 12 and cuDNN 9');
  });

  it('lists the GPU providers a build has before CPU for auto, and says why', () => {
    expect(chooseExecutionProviders('auto', none)).toEqual({
      candidates: ['cpu'],
      reason:
        'CUDA provider not installed (ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci adds it); no WebGPU provider in this build',
    });
    expect(chooseExecutionProviders('auto', { cudaInstalled: true, webgpuBundled: true }).candidates).toEqual(
      ['cuda', 'webgpu', 'cpu'],
    );
    expect(
      chooseExecutionProviders('auto', { cudaInstalled: false, webgpuBundled: true, vulkanLoader: false })
        .reason,
    ).toContain('WebGPU skipped: no Vulkan loader');
    expect(chooseExecutionProviders('cpu', { cudaInstalled: true, webgpuBundled: true }).candidates).toEqual([
      'cpu',
    ]);
    expect(
      chooseExecutionProviders('cuda', { cudaInstalled: true, webgpuBundled: false }).candidates,
    ).toEqual(['cuda']);
  });
});

describe('createSession', () => {
  it('with DEVICE=auto runs on what works, falling back to CPU, with one log line per session', async () => {
    const { logger, lines } = capturingLogger();
    const options = { device: 'auto' as const, intraOpThreads: 1, interOpThreads: 1, logger };
    const session = await createSession(relu(), options);
    const again = await createSession(relu(), options);
    const { y } = await session.run({ x: new ort.Tensor('float32', new Float32Array([-1, 2]), [2]) });
    expect(Array.from(y!.data as Float32Array)).toEqual([0, 2]);
    const chosen = lines().filter((l) => l.msg.startsWith('DEVICE=auto chose'));
    expect(chosen).toHaveLength(2);
    expect(chosen[1]!.provider).toBe(chosen[0]!.provider);
    expect(chosen[0]!.msg).toMatch(/^DEVICE=auto chose \w+ for a \d+-byte model/);
    if (!probeBackends().cudaInstalled) {
      // This machine's build has no CUDA provider, and CI machines have no GPU adapter.
      expect(chosen[0]!.msg).toContain('CUDA provider not installed');
    }
    expect(['cpu', 'cuda', 'webgpu']).toContain(chosen[0]!.provider);
    expect(providerOf(session)).toBe(chosen[0]!.provider);
    await session.release();
    await again.release();
  });

  it('with DEVICE=cuda on a build without CUDA fails with DEVICE_UNAVAILABLE, not a crash', async (ctx) => {
    if (probeBackends().cudaInstalled) return ctx.skip();
    const error = await createSession(relu(), {
      device: 'cuda',
      intraOpThreads: 1,
      interOpThreads: 1,
      logger: capturingLogger().logger,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('DEVICE_UNAVAILABLE');
    expect((error as AppError).message).toMatch(/DEVICE=cuda .*ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci/);
  });

  it('turns an unreadable model into MODEL_INVALID', async () => {
    const error = await createSession(new Uint8Array([1, 2, 3, 4]), {
      device: 'cpu',
      intraOpThreads: 1,
      interOpThreads: 1,
      logger: capturingLogger().logger,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as AppError).code).toBe('MODEL_INVALID');
  });
});
