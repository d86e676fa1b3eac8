/**
 * The XMM part of FXSAVE/FXRSTOR's 512-byte area (bytes 160-287): XMM0-7, saved and restored only
 * with CR4.OSFXSR set, as QEMU's helpers do. The x87 part and MXCSR are the FPU's (fpu/env.ts).
 */
import type { Cpu } from "../cpu.ts";
import { CR4_OSFXSR } from "../state.ts";
import { load, store } from "./exec.ts";
import { simdState, XMM } from "./state.ts";

const XMM_AREA = 160;

export function fxsaveXmm(cpu: Cpu, lin: number): void {
  if (!(cpu.cr[4] & CR4_OSFXSR)) return;
  store(cpu, simdState(cpu), XMM, (lin + XMM_AREA) | 0, 128);
}

export function fxrstorXmm(cpu: Cpu, lin: number): void {
  if (!(cpu.cr[4] & CR4_OSFXSR)) return;
  load(cpu, simdState(cpu), XMM, (lin + XMM_AREA) | 0, 128);
}
