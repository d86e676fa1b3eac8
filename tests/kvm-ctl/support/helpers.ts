/** Shared helpers of the kvm-ctl tests: a fresh state root per test and the CLI run against it. */
import { runCli } from "../../support/tools.ts";
import type { CliResult } from "../../support/tools.ts";

export async function tempRoot(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "kvm-ctl-test-" });
}

/** Runs `kvm-ctl --root ROOT ARGS...` (or with KVM_CTL_ROOT when `viaEnv`). */
export function kctl(root: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli("kvm-ctl", ["--root", root, ...args], { env });
}

export async function write(root: string, rel: string, text: string): Promise<void> {
  const path = `${root}/${rel}`;
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await Deno.writeTextFile(path, text);
}

export function read(root: string, rel: string): string {
  return Deno.readTextFileSync(`${root}/${rel}`);
}

export const RELEASE_DIR = "/lib/modules/6.8.0-40-generic";
export const KVM_INTEL_KO = `${RELEASE_DIR}/kernel/arch/x86/kvm/kvm-intel.ko.zst`;
export const KVM_KO = `${RELEASE_DIR}/kernel/arch/x86/kvm/kvm.ko.zst`;
export const IRQBYPASS_KO = `${RELEASE_DIR}/kernel/virt/lib/irqbypass.ko.zst`;
