/**
 * The x87 environment and state images: FSTENV/FLDENV (14 or 28 bytes), FSAVE/FRSTOR (94 or 108
 * bytes: the environment then ST(0)-ST(7) as m80fp) in the 16- and 32-bit, real- and
 * protected-mode layouts of the SDM (volume 1, figures 8-9 to 8-12), and FXSAVE/FXRSTOR's
 * 512-byte area (its x87 and MXCSR parts; the XMM registers are the core's).
 *
 * Real and virtual-8086 mode store FIP and FDP as 20/32-bit linear addresses (selector * 16 +
 * offset) with FOP packed beside FIP's upper bits, and no selectors.
 */
import { CR4_OSFXSR, type FpuHost } from "./host.ts";
import { FpuState, W_EMPTY, W_FCS, W_FDP, W_FDS, W_FIP, W_FOP, W_MXCSR } from "./state.ts";
import { fromM80, m80, toM80 } from "./formats.ts";

function linear(selector: number, offset: number): number {
  return ((selector << 4) + offset) >>> 0;
}

/** Writes the environment; returns its size (14 or 28). */
export function fstenv(S: FpuState, H: FpuHost, op32: boolean, seg: number, off: number): number {
  const w = S.words;
  const pm = H.protectedMode();
  const fip = pm ? w[W_FIP] : linear(w[W_FCS], w[W_FIP]);
  const fdp = pm ? w[W_FDP] : linear(w[W_FDS], w[W_FDP]);
  const at = (i: number) => (off + i) >>> 0;
  H.checkStore?.(seg, off, op32 ? 28 : 14);
  if (op32) {
    H.write32(seg, at(0), S.fcw);
    H.write32(seg, at(4), S.fsw);
    H.write32(seg, at(8), S.ftw);
    if (pm) {
      H.write32(seg, at(12), fip);
      H.write32(seg, at(16), (w[W_FCS] & 0xffff | (w[W_FOP] & 0x7ff) << 16) >>> 0);
      H.write32(seg, at(20), fdp);
      H.write32(seg, at(24), w[W_FDS] & 0xffff);
    } else {
      H.write32(seg, at(12), fip & 0xffff);
      H.write32(seg, at(16), ((fip >>> 16) << 12 | (w[W_FOP] & 0x7ff)) >>> 0);
      H.write32(seg, at(20), fdp & 0xffff);
      H.write32(seg, at(24), ((fdp >>> 16) << 12) >>> 0);
    }
    return 28;
  }
  H.write16(seg, at(0), S.fcw);
  H.write16(seg, at(2), S.fsw);
  H.write16(seg, at(4), S.ftw);
  if (pm) {
    H.write16(seg, at(6), fip & 0xffff);
    H.write16(seg, at(8), w[W_FCS] & 0xffff);
    H.write16(seg, at(10), fdp & 0xffff);
    H.write16(seg, at(12), w[W_FDS] & 0xffff);
  } else {
    H.write16(seg, at(6), fip & 0xffff);
    H.write16(seg, at(8), ((fip >>> 16) & 0xf) << 12 | (w[W_FOP] & 0x7ff));
    H.write16(seg, at(10), fdp & 0xffff);
    H.write16(seg, at(12), ((fdp >>> 16) & 0xf) << 12);
  }
  return 14;
}

/** Reads the environment; returns its size. */
export function fldenv(S: FpuState, H: FpuHost, op32: boolean, seg: number, off: number): number {
  const pm = H.protectedMode();
  const at = (i: number) => (off + i) >>> 0;
  let fcw, fsw, ftw, fip, fcs, fdp, fds, fop: number;
  if (op32) {
    fcw = H.read32(seg, at(0));
    fsw = H.read32(seg, at(4));
    ftw = H.read32(seg, at(8));
    const a = H.read32(seg, at(12)) >>> 0, b = H.read32(seg, at(16)) >>> 0;
    const c = H.read32(seg, at(20)) >>> 0, d = H.read32(seg, at(24)) >>> 0;
    if (pm) {
      fip = a, fcs = b & 0xffff, fop = (b >>> 16) & 0x7ff, fdp = c, fds = d & 0xffff;
    } else {
      fip = ((b >>> 12 & 0xffff) << 16 | (a & 0xffff)) >>> 0, fcs = 0, fop = b & 0x7ff;
      fdp = ((d >>> 12 & 0xffff) << 16 | (c & 0xffff)) >>> 0, fds = 0;
    }
  } else {
    fcw = H.read16(seg, at(0));
    fsw = H.read16(seg, at(2));
    ftw = H.read16(seg, at(4));
    const a = H.read16(seg, at(6)), b = H.read16(seg, at(8));
    const c = H.read16(seg, at(10)), d = H.read16(seg, at(12));
    if (pm) {
      fip = a, fcs = b, fdp = c, fds = d, fop = S.words[W_FOP];
    } else {
      fip = (b >>> 12) << 16 | a, fcs = 0, fop = b & 0x7ff, fdp = (d >>> 12) << 16 | c, fds = 0;
    }
  }
  S.fcw = fcw;
  S.fsw = fsw;
  S.ftw = ftw;
  const w = S.words;
  w[W_FIP] = fip, w[W_FCS] = fcs, w[W_FDP] = fdp, w[W_FDS] = fds, w[W_FOP] = fop;
  return op32 ? 28 : 14;
}

/** FNSAVE's image: the environment, then ST(0)..ST(7). The caller re-initialises the FPU. */
export function fsave(S: FpuState, H: FpuHost, op32: boolean, seg: number, off: number): void {
  H.checkStore?.(seg, off, op32 ? 108 : 94);
  let at = fstenv(S, H, op32, seg, off);
  for (let i = 0; i < 8; i++, at += 10) {
    toM80(S.regs[S.phys(i)]);
    H.write32(seg, (off + at) >>> 0, m80[0]);
    H.write32(seg, (off + at + 4) >>> 0, m80[1]);
    H.write16(seg, (off + at + 8) >>> 0, m80[2]);
  }
}

const regsScratch = new Float64Array(8);

/** FRSTOR: reads everything first, so a fault part-way leaves the FPU as it was. */
export function frstor(S: FpuState, H: FpuHost, op32: boolean, seg: number, off: number): void {
  const base = op32 ? 28 : 14;
  for (let i = 0; i < 8; i++) {
    const at = (off + base + 10 * i) >>> 0;
    regsScratch[i] = fromM80(
      H.read32(seg, at) >>> 0,
      H.read32(seg, (at + 4) >>> 0) >>> 0,
      H.read16(seg, (at + 8) >>> 0),
    );
  }
  fldenv(S, H, op32, seg, off);
  for (let i = 0; i < 8; i++) S.regs[S.phys(i)] = regsScratch[i];
}

function osfxsr(H: FpuHost): boolean {
  return H.cr4 ? (H.cr4() & CR4_OSFXSR) !== 0 : true;
}

/**
 * FXSAVE: bytes 0-23 (FCW, FSW, abridged tag, FOP, FIP, FCS, FDP, FDS), MXCSR and MXCSR_MASK when
 * CR4.OSFXSR is set, and ST(0)-ST(7) as 10-byte values in 16-byte slots. The reserved bytes of
 * each slot are left as they were, as QEMU does.
 */
export function fxsave(S: FpuState, H: FpuHost, _op32: boolean, seg: number, off: number): void {
  const w = S.words;
  const at = (i: number) => (off + i) >>> 0;
  H.write16(seg, at(0), S.fcw);
  H.write16(seg, at(2), S.fsw);
  H.write16(seg, at(4), ~w[W_EMPTY] & 0xff);
  H.write16(seg, at(6), w[W_FOP] & 0x7ff);
  H.write32(seg, at(8), w[W_FIP]);
  H.write32(seg, at(12), w[W_FCS] & 0xffff);
  H.write32(seg, at(16), w[W_FDP]);
  H.write32(seg, at(20), w[W_FDS] & 0xffff);
  if (osfxsr(H)) {
    H.write32(seg, at(24), w[W_MXCSR]);
    H.write32(seg, at(28), MXCSR_MASK);
  }
  for (let i = 0; i < 8; i++) {
    const p = 32 + 16 * i;
    toM80(S.regs[S.phys(i)]);
    H.write32(seg, at(p), m80[0]);
    H.write32(seg, at(p + 4), m80[1]);
    H.write16(seg, at(p + 8), m80[2]);
  }
}

/** The MXCSR bits FXRSTOR accepts (QEMU's CPUs report DAZ, so all of the low 16). */
export const MXCSR_MASK = 0x0000ffff;

/** FXRSTOR: raises #GP (13) when the image's MXCSR sets a reserved bit (with CR4.OSFXSR set). */
export function fxrstor(S: FpuState, H: FpuHost, _op32: boolean, seg: number, off: number): void {
  const at = (i: number) => (off + i) >>> 0;
  const withMxcsr = osfxsr(H);
  const mxcsr = withMxcsr ? H.read32(seg, at(24)) >>> 0 : S.words[W_MXCSR];
  if (mxcsr & ~MXCSR_MASK) H.fault(13);
  for (let i = 0; i < 8; i++) {
    const p = 32 + 16 * i;
    regsScratch[i] = fromM80(
      H.read32(seg, at(p)) >>> 0,
      H.read32(seg, at(p + 4)) >>> 0,
      H.read16(seg, at(p + 8)),
    );
  }
  const w = S.words;
  S.fcw = H.read16(seg, at(0));
  S.fsw = H.read16(seg, at(2));
  w[W_EMPTY] = ~H.read8(seg, at(4)) & 0xff;
  w[W_FOP] = H.read16(seg, at(6)) & 0x7ff;
  w[W_FIP] = H.read32(seg, at(8)) >>> 0;
  w[W_FCS] = H.read16(seg, at(12));
  w[W_FDP] = H.read32(seg, at(16)) >>> 0;
  w[W_FDS] = H.read16(seg, at(20));
  w[W_MXCSR] = mxcsr;
  for (let i = 0; i < 8; i++) S.regs[S.phys(i)] = regsScratch[i];
}
