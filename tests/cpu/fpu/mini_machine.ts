/**
 * A test-only x86 runner for the FPU guests until the integer core integrates the FPU: it executes
 * the handful of integer instructions the multiboot/serial/report include files and the FPU guests
 * use (flat 32-bit protected mode, disp32 addressing), routes every x87 opcode through the real
 * FPU module, and collects the COM1 output. It is not an x86 core: an instruction outside its
 * subset throws, naming the opcode, so a guest can never silently run wrong.
 */
import {
  deviceNotAvailable,
  DNA_ESC,
  execute,
  type FpuHost,
  type FpuInstruction,
  FpuState,
  fwait,
  fxrstor,
  fxsave,
} from "../../../lib/cpu/fpu/mod.ts";

const LOAD = 0x100000;
const CF = 1, PF = 4, ZF = 0x40, SF = 0x80, OF = 0x800, IF = 0x200;

function parity(v: number): number {
  let x = v & 0xff;
  x ^= x >> 4;
  x ^= x >> 2;
  x ^= x >> 1;
  return x & 1 ? 0 : PF;
}

export class MiniMachine implements FpuHost {
  readonly mem = new Uint8Array(4 << 20);
  readonly view = new DataView(this.mem.buffer);
  readonly regs = new Uint32Array(8); // EAX ECX EDX EBX ESP EBP ESI EDI
  readonly fpu = new FpuState();
  flags = 0x2;
  eip = 0;
  /** CR0 as QEMU's multiboot loader leaves it (PE, ET; NE clear) and CR4 = 0. */
  cr0Value = 0x11;
  cr4Value = 0;
  out = "";
  exitCode = -1;
  ferrCount = 0;
  /** IDT vector 16 handler for guests that install one (lidt is outside the subset; see `mfHandler`). */
  mfHandler = 0;
  private readonly ins: FpuInstruction = { cs: 0x8, eip: 0, operand32: true };

  constructor(binary: Uint8Array) {
    this.mem.set(binary, LOAD);
    const entry = this.view.getUint32(LOAD + 28, true);
    this.eip = entry;
    this.regs[0] = 0x2badb002;
  }

  // ---- FpuHost (flat segments: CS=0x08, data segments 0x10, as QEMU's multiboot loader sets them)
  read8(_s: number, o: number): number {
    return this.mem[o];
  }
  read16(_s: number, o: number): number {
    return this.view.getUint16(o, true);
  }
  read32(_s: number, o: number): number {
    return this.view.getUint32(o, true);
  }
  write8(_s: number, o: number, v: number): void {
    this.mem[o] = v;
  }
  write16(_s: number, o: number, v: number): void {
    this.view.setUint16(o, v, true);
  }
  write32(_s: number, o: number, v: number): void {
    this.view.setUint32(o, v >>> 0, true);
  }
  selector(seg: number): number {
    return seg === 1 ? 0x8 : 0x10;
  }
  eflags(): number {
    return this.flags;
  }
  setEflags(mask: number, value: number): void {
    this.flags = this.flags & ~mask | value & mask;
  }
  cr0(): number {
    return this.cr0Value;
  }
  cr4(): number {
    return this.cr4Value;
  }
  protectedMode(): boolean {
    return true;
  }
  setAx(v: number): void {
    this.regs[0] = this.regs[0] & 0xffff0000 | v;
  }
  fault(vector: number): never {
    throw new GuestFault(vector);
  }
  ferr(): void {
    this.ferrCount++;
  }

  private fetch8(): number {
    return this.mem[this.eip++];
  }
  private fetch32(): number {
    const v = this.view.getUint32(this.eip, true);
    this.eip += 4;
    return v;
  }
  private push(v: number): void {
    this.regs[4] -= 4;
    this.view.setUint32(this.regs[4], v >>> 0, true);
  }
  private pop(): number {
    const v = this.view.getUint32(this.regs[4], true);
    this.regs[4] += 4;
    return v;
  }
  private logic8(v: number): void {
    v &= 0xff;
    this.flags = this.flags & ~(CF | PF | ZF | SF | OF | 0x10) | (v === 0 ? ZF : 0) | (v & 0x80 ? SF : 0) |
      parity(v);
  }
  private logic32(v: number): void {
    v >>>= 0;
    this.flags = this.flags & ~(CF | PF | ZF | SF | OF | 0x10) | (v === 0 ? ZF : 0) |
      (v & 0x80000000 ? SF : 0) |
      parity(v);
  }
  private sub8(a: number, b: number): number {
    const r = (a - b) & 0xff;
    this.logic8(r);
    if (a < b) this.flags |= CF;
    return r;
  }
  private add8(a: number, b: number): number {
    const r = (a + b) & 0xff;
    this.logic8(r);
    if (a + b > 0xff) this.flags |= CF;
    return r;
  }

  /** Runs until the guest writes the exit port or `limit` instructions pass. */
  run(limit = 5_000_000): void {
    for (let n = 0; n < limit && this.exitCode < 0; n++) this.step();
    if (this.exitCode < 0) throw new Error("guest did not exit");
  }

  private deliver(vector: number, returnTo: number): void {
    if (vector !== 16 || !this.mfHandler) throw new Error(`unhandled guest exception ${vector}`);
    this.push(this.flags);
    this.push(0x8);
    this.push(returnTo);
    this.eip = this.mfHandler;
  }

  private step(): void {
    const start = this.eip;
    let op = this.fetch8();
    let o16 = false;
    if (op === 0x66) {
      o16 = true;
      op = this.fetch8();
    }
    const r = this.regs;
    try {
      if (op >= 0xd8 && op <= 0xdf) {
        if (deviceNotAvailable(this.cr0Value, DNA_ESC)) throw new GuestFault(7);
        const modrm = this.fetch8();
        let offset = 0;
        if (modrm < 0xc0) {
          if ((modrm & 0xc7) !== 0x05) throw new Error(`addressing ${modrm.toString(16)} outside the subset`);
          offset = this.fetch32();
        }
        this.ins.eip = start;
        this.ins.operand32 = !o16;
        execute(this.fpu, this, this.ins, op, modrm, 3, offset);
        return;
      }
      switch (op) {
        case 0x9b:
          fwait(this.fpu, this);
          return;
        case 0x0f: {
          const op2 = this.fetch8();
          if (op2 === 0x84 || op2 === 0x85) {
            // jz/jnz rel32
            const rel = this.fetch32() | 0;
            if (((this.flags & ZF) !== 0) === (op2 === 0x84)) this.eip = (this.eip + rel) >>> 0;
            return;
          }
          const modrm = this.fetch8();
          if (op2 === 0x20 || op2 === 0x22) {
            // mov eax, cr0/cr4 and back
            const cr = modrm >> 3 & 7;
            if ((modrm & 0xc7) !== 0xc0 || (cr !== 0 && cr !== 4)) break;
            if (op2 === 0x20) r[0] = cr === 0 ? this.cr0Value : this.cr4Value;
            else if (cr === 0) this.cr0Value = r[0];
            else this.cr4Value = r[0];
            return;
          }
          if (op2 === 0x01 && modrm === 0x1d) {
            // lidt [disp32]: remember the #MF (vector 16) gate's offset
            const base = this.view.getUint32(this.fetch32() + 2, true);
            const gate = base + 16 * 8;
            this.mfHandler = (this.view.getUint16(gate, true) | this.view.getUint16(gate + 6, true) << 16) >>>
              0;
            return;
          }
          if (op2 !== 0xae || (modrm & 0xc7) !== 0x05) break;
          const offset = this.fetch32();
          if ((modrm >> 3 & 7) === 0) fxsave(this.fpu, this, true, 3, offset);
          else if ((modrm >> 3 & 7) === 1) fxrstor(this.fpu, this, true, 3, offset);
          else break;
          return;
        }
        case 0x50:
        case 0x51:
        case 0x52:
        case 0x53:
        case 0x55:
        case 0x56:
        case 0x57:
          this.push(r[op - 0x50]);
          return;
        case 0x58:
        case 0x59:
        case 0x5a:
        case 0x5b:
        case 0x5d:
        case 0x5e:
        case 0x5f:
          r[op - 0x58] = this.pop();
          return;
        case 0x60: {
          const sp = r[4];
          for (let i = 0; i < 8; i++) this.push(i === 4 ? sp : r[i]);
          return;
        }
        case 0x61:
          for (let i = 7; i >= 0; i--) {
            const v = this.pop();
            if (i !== 4) r[i] = v;
          }
          return;
        case 0x9c:
          this.push(this.flags);
          return;
        case 0x9d:
          this.flags = this.pop() & 0x3f7fd5 | 2;
          return;
        case 0xe8: {
          const rel = this.fetch32() | 0;
          this.push(this.eip);
          this.eip = (this.eip + rel) >>> 0;
          return;
        }
        case 0xc3:
          this.eip = this.pop();
          return;
        case 0xcf:
          this.eip = this.pop();
          this.pop();
          this.flags = this.pop();
          return;
        case 0xe9: {
          const rel = this.fetch32() | 0;
          this.eip = (this.eip + rel) >>> 0;
          return;
        }
        case 0xeb: {
          const rel = this.fetch8() << 24 >> 24;
          this.eip = (this.eip + rel) >>> 0;
          return;
        }
        case 0x74:
        case 0x75:
        case 0x76: {
          const rel = this.fetch8() << 24 >> 24;
          const f = this.flags;
          const taken = op === 0x74 ? (f & ZF) !== 0 : op === 0x75 ? (f & ZF) === 0 : (f & (ZF | CF)) !== 0;
          if (taken) this.eip = (this.eip + rel) >>> 0;
          return;
        }
        case 0xb0:
          r[0] = r[0] & ~0xff | this.fetch8();
          return;
        case 0xb8:
        case 0xb9:
        case 0xba:
        case 0xbb:
        case 0xbc:
        case 0xbd:
        case 0xbe:
        case 0xbf:
          if (o16) {
            const v = this.view.getUint16(this.eip, true);
            this.eip += 2;
            r[op - 0xb8] = r[op - 0xb8] & 0xffff0000 | v;
          } else r[op - 0xb8] = this.fetch32();
          return;
        case 0xa3:
          this.view.setUint32(this.fetch32(), r[0], true);
          return;
        case 0xa1:
          r[0] = this.view.getUint32(this.fetch32(), true);
          return;
        case 0x89:
        case 0x88:
        case 0x31:
        case 0x85:
        case 0x84: {
          const modrm = this.fetch8();
          const reg = modrm >> 3 & 7;
          if (modrm < 0xc0) {
            if (op !== 0x89 || (modrm & 0xc7) !== 0x05) break;
            this.view.setUint32(this.fetch32(), r[reg], true);
            return;
          }
          const rm = modrm & 7;
          if (op === 0x89) r[rm] = r[reg];
          else if (op === 0x31) this.logic32(r[rm] ^= r[reg]);
          else if (op === 0x85) this.logic32(r[rm] & r[reg]);
          else {
            // Byte registers: AL CL DL BL AH CH DH BH.
            const get = (i: number) => i < 4 ? r[i] & 0xff : r[i - 4] >> 8 & 0xff;
            if (op === 0x84) this.logic8(get(rm) & get(reg));
            else if (rm < 4) r[rm] = r[rm] & ~0xff | get(reg);
            else break;
          }
          return;
        }
        case 0xac:
          r[0] = r[0] & ~0xff | this.mem[r[6]];
          r[6]++;
          return;
        case 0xa8:
          this.logic8(r[0] & this.fetch8());
          return;
        case 0x24:
          this.logic8(r[0] &= ~0xff | this.fetch8());
          return;
        case 0x04:
          r[0] = r[0] & ~0xff | this.add8(r[0] & 0xff, this.fetch8());
          return;
        case 0x3c:
          this.sub8(r[0] & 0xff, this.fetch8());
          return;
        case 0x49: {
          const cf = this.flags & CF;
          r[1]--;
          this.logic32(r[1]);
          this.flags |= cf;
          return;
        }
        case 0xc0: {
          const modrm = this.fetch8();
          const n = this.fetch8();
          if (modrm !== 0xe8) break; // shr al, imm8
          const v = r[0] & 0xff;
          const res = v >> n;
          this.logic8(res);
          if (n && (v >> (n - 1)) & 1) this.flags |= CF;
          r[0] = r[0] & ~0xff | res;
          return;
        }
        case 0x81: {
          const modrm = this.fetch8();
          if (modrm !== 0x24 || this.fetch8() !== 0x24) break; // and dword [esp], imm32
          const v = this.view.getUint32(r[4], true) & this.fetch32();
          this.view.setUint32(r[4], v, true);
          this.logic32(v);
          return;
        }
        case 0x8f: {
          const modrm = this.fetch8();
          if (modrm !== 0x05) break;
          const addr = this.fetch32();
          this.view.setUint32(addr, this.pop(), true);
          return;
        }
        case 0xc7: {
          const modrm = this.fetch8();
          if (modrm !== 0x05) break;
          const addr = this.fetch32();
          if (o16) {
            this.view.setUint16(addr, this.view.getUint16(this.eip, true), true);
            this.eip += 2;
          } else this.view.setUint32(addr, this.fetch32(), true);
          return;
        }
        case 0x69: {
          const modrm = this.fetch8();
          if (modrm !== 0xc0) break; // imul eax, eax, imm32
          r[0] = Math.imul(r[0], this.fetch32());
          return;
        }
        case 0x05:
          r[0] = r[0] + this.fetch32();
          return;
        case 0x09:
        case 0x33: {
          const modrm = this.fetch8();
          if ((modrm & 0xc7) !== 0x05 || modrm >> 3 & 7) break;
          const addr = this.fetch32();
          const v = this.view.getUint32(addr, true);
          if (op === 0x09) {
            const res = v | r[0];
            this.view.setUint32(addr, res, true); // or [disp32], eax
            this.logic32(res);
          } else this.logic32(r[0] ^= v); // xor eax, [disp32]
          return;
        }
        case 0xc1: {
          const modrm = this.fetch8();
          const n = this.fetch8() & 31;
          if (modrm === 0xe8) r[0] = r[0] >>> n; // shr eax, imm8 (flags unused by the guests)
          else if (modrm === 0xc0) r[0] = r[0] << n | r[0] >>> (32 - n); // rol eax, imm8
          else break;
          return;
        }
        case 0xff: {
          const modrm = this.fetch8();
          if (modrm !== 0x0d) break; // dec dword [disp32]
          const addr = this.fetch32();
          const cf = this.flags & CF;
          const v = (this.view.getUint32(addr, true) - 1) >>> 0;
          this.view.setUint32(addr, v, true);
          this.logic32(v);
          this.flags |= cf;
          return;
        }
        case 0x83: {
          const modrm = this.fetch8();
          const imm = this.fetch8() << 24 >> 24;
          if (modrm === 0xc8) this.logic32(r[0] |= imm); // or eax, imm8
          else if (modrm === 0xe0) this.logic32(r[0] &= imm); // and eax, imm8
          else break;
          return;
        }
        case 0x8b: {
          const modrm = this.fetch8();
          if ((modrm & 0xc7) !== 0x05) break; // mov r32, [disp32]
          r[modrm >> 3 & 7] = this.view.getUint32(this.fetch32(), true);
          return;
        }
        case 0x0d:
          this.logic32(r[0] |= this.fetch32());
          return;
        case 0x25:
          this.logic32(r[0] &= this.fetch32());
          return;
        case 0xf8:
          this.flags &= ~CF;
          return;
        case 0xf9:
          this.flags |= CF;
          return;
        case 0xfa:
          this.flags &= ~IF;
          return;
        case 0xec:
          // COM1 line status: transmitter always empty.
          r[0] = r[0] & ~0xff | ((r[2] & 0xffff) === 0x3fd ? 0x60 : 0xff);
          return;
        case 0xee:
        case 0xef: {
          const port = r[2] & 0xffff;
          if (port === 0x3f8) this.out += String.fromCharCode(r[0] & 0xff);
          else if (port === 0xf4) this.exitCode = ((r[0] & 0xff) << 1) | 1;
          else if (port === 0x604) this.exitCode = 0;
          return;
        }
      }
    } catch (e) {
      if (!(e instanceof GuestFault)) throw e;
      this.deliver(e.vector, start);
      return;
    }
    throw new Error(`opcode ${op.toString(16)} at ${start.toString(16)} outside the mini machine's subset`);
  }
}

export class GuestFault extends Error {
  constructor(readonly vector: number) {
    super(`guest exception ${vector}`);
  }
}
