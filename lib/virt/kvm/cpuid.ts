/**
 * KVM_GET_SUPPORTED_CPUID's table: the simulated host CPU's leaves as KVM filters them, VMX
 * (CPUID.1:ECX bit 5) only with kvm_intel's `nested`, plus KVM's own paravirtual leaves
 * 0x40000000 ("KVMKVMKVM") and 0x40000001 (features).
 */
import { MODELS, withFeatures } from "../../cpu/mod.ts";
import type { KvmCpuidEntry2 } from "./structs.ts";

const CPUID_1_ECX_VMX = 1 << 5;
const CPUID_1_ECX_HYPERVISOR = 1 << 31;
/** "KVMKVMKVM\0\0\0" as EBX, ECX, EDX. */
const KVM_SIGNATURE = [0x4b4d564b, 0x564b4d56, 0x0000004d] as const;
/**
 * The paravirtual features of leaf 0x40000001 this kvm offers: KVM_FEATURE_NOP_IO_DELAY only. Linux's
 * kvm also has kvmclock, async page faults, steal time and PV EOI, each with MSRs the guest then
 * writes and shared memory the host must keep up to date; the simulated kvm_intel implements none
 * of them, so it does not advertise them (a guest then uses the TSC and the HPET, as under tcg).
 */
const KVM_PV_FEATURES = 1 << 1;

/**
 * The host CPU the simulated kernel runs on: the CPU core's model, with the MTRRs every VMX host
 * has (the core implements their MSRs; KVM emulates them for its guests and offers CPUID MTRR).
 */
export const HOST_MODEL = withFeatures(MODELS.qemu32, { mtrr: true });

export function supportedCpuid(nested: boolean): KvmCpuidEntry2[] {
  const out: KvmCpuidEntry2[] = [];
  for (const [fn, [eax, ebx, ecx, edx]] of HOST_MODEL.leaves) {
    let c = ecx & ~CPUID_1_ECX_HYPERVISOR;
    if (fn === 1) c = nested ? c | CPUID_1_ECX_VMX : c & ~CPUID_1_ECX_VMX;
    out.push({ function: fn, index: 0, flags: 0, eax, ebx, ecx: c >>> 0, edx });
  }
  out.push({
    function: 0x40000000,
    index: 0,
    flags: 0,
    eax: 0x40000001,
    ebx: KVM_SIGNATURE[0],
    ecx: KVM_SIGNATURE[1],
    edx: KVM_SIGNATURE[2],
  });
  out.push({ function: 0x40000001, index: 0, flags: 0, eax: KVM_PV_FEATURES, ebx: 0, ecx: 0, edx: 0 });
  return out.sort((a, b) => (a.function >>> 0) - (b.function >>> 0));
}

/** CPUID.1:EAX of a table, the value RDX holds after reset (0x600 without one, as Linux). */
export function resetRdx(entries: readonly KvmCpuidEntry2[]): bigint {
  const leaf1 = entries.find((e) => e.function === 1);
  return BigInt(leaf1 ? leaf1.eax >>> 0 : 0x600);
}
