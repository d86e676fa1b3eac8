/**
 * The -cpu names the command line accepts: QEMU's x86 model names that an i686-class core can
 * stand behind, and the CPUID feature names QEMU's `+feat`/`-feat`/`feat=on` take. The CPU core
 * decides what each model means; this table only answers "does QEMU know this name".
 */

export const CPU_MODELS: [name: string, description: string][] = [
  ["486", ""],
  ["pentium", ""],
  ["pentium2", ""],
  ["pentium3", ""],
  ["qemu32", "QEMU Virtual CPU version 2.5+"],
  ["qemu64", "QEMU Virtual CPU version 2.5+"],
  ["kvm32", "Common 32-bit KVM processor"],
  ["kvm64", "Common KVM processor"],
  ["coreduo", "Genuine Intel(R) CPU           T2600  @ 2.16GHz"],
  ["core2duo", "Intel(R) Core(TM)2 Duo CPU     T7700  @ 2.40GHz"],
  ["base", "base CPU model type with no features enabled"],
  ["host", "KVM processor with all supported host features"],
  ["max", "Enables all features supported by the accelerator in the current host"],
];

/** CPUID feature flags by QEMU's property name (leaves 1 and 0x80000001). */
export const CPU_FEATURES = new Set(
  ("fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 pn clflush ds acpi mmx " +
    "fxsr sse sse2 ss ht tm ia64 pbe pni sse3 pclmulqdq dtes64 monitor ds-cpl vmx smx est tm2 ssse3 " +
    "cid fma cx16 xtpr pdcm pcid dca sse4.1 sse4.2 x2apic movbe popcnt tsc-deadline aes xsave avx " +
    "f16c rdrand hypervisor syscall nx mmxext fxsr-opt pdpe1gb rdtscp lm 3dnowext 3dnow lahf-lm svm " +
    "cr8legacy abm sse4a misalignsse 3dnowprefetch kvmclock kvm-nopiodelay kvm-asyncpf kvm-pv-eoi " +
    "kvm-pv-unhalt kvmclock-stable-bit check enforce").split(" "),
);

/** QEMU spells some features two ways (`sse4_1`, `lahf_lm`); properties use the dashed form. */
export function canonicalFeature(name: string): string {
  if (name === "sse4_1") return "sse4.1";
  if (name === "sse4_2") return "sse4.2";
  return name.replaceAll("_", "-");
}
