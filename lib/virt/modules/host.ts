/**
 * The simulated host: which CPU the modules find (Intel with VMX, AMD with SVM, or a CPU without
 * virtualization), whether the BIOS enabled it, and the kernel release that names
 * /lib/modules/<release>. Read from `<root>/host.conf` (`key = value` lines), overridden by the
 * environment (KVM_CTL_HOST_CPU, KVM_CTL_VIRT, KVM_CTL_KERNEL_RELEASE).
 */
import { join } from "node:path";
import { HostConfigError } from "./errors.ts";

export type HostCpu = "intel" | "amd" | "none";

export interface HostConfig {
  /** "none" is an Intel CPU without VMX: kvm_intel finds no VMX, kvm_amd no AMD. */
  cpu: HostCpu;
  /** false: the firmware left VMX/SVM disabled (IA32_FEAT_CTL / VM_CR), as on a locked-down BIOS. */
  virtEnabled: boolean;
  release: string;
}

/** Ubuntu 24.04's kernel, the host most KVM users script against; its modules are .ko.zst. */
export const DEFAULT_RELEASE = "6.8.0-40-generic";

export const HOST_CONF = "host.conf";

interface Setting {
  env: string;
  apply(host: HostConfig, value: string): boolean;
}

/** Each setting: its host.conf key, its environment variable, and how a value applies. */
const SETTINGS: Record<string, Setting> = {
  cpu: {
    env: "KVM_CTL_HOST_CPU",
    apply: (h, v) => (v === "intel" || v === "amd" || v === "none") && ((h.cpu = v), true),
  },
  virtualization: {
    env: "KVM_CTL_VIRT",
    apply: (h, v) => (v === "enabled" || v === "disabled") && ((h.virtEnabled = v === "enabled"), true),
  },
  release: {
    env: "KVM_CTL_KERNEL_RELEASE",
    apply: (h, v) => /^[A-Za-z0-9._+-]+$/.test(v) && ((h.release = v), true),
  },
};

export function readHostConfig(root: string, env: (name: string) => string | undefined): HostConfig {
  const host: HostConfig = { cpu: "intel", virtEnabled: true, release: DEFAULT_RELEASE };
  const file = join(root, HOST_CONF);
  let text: string | undefined;
  try {
    text = Deno.readTextFileSync(file);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw new HostConfigError(file, String(e));
  }
  (text ?? "").split("\n").forEach((raw, i) => {
    const line = raw.replace(/#.*/, "").trim();
    if (!line) return;
    const m = /^([A-Za-z_]+)\s*=\s*(.*)$/.exec(line);
    const setting = m && SETTINGS[m[1]];
    if (!m || !setting) throw new HostConfigError(`${file}:${i + 1}`, `unknown setting '${line}'`);
    if (!setting.apply(host, m[2].trim())) {
      throw new HostConfigError(`${file}:${i + 1}`, `invalid value '${m[2].trim()}' for ${m[1]}`);
    }
  });
  for (const [key, setting] of Object.entries(SETTINGS)) {
    const value = env(setting.env);
    if (value !== undefined && value !== "" && !setting.apply(host, value)) {
      throw new HostConfigError(setting.env, `invalid value '${value}' for ${key}`);
    }
  }
  return host;
}

/** The directory kmod names in "not found" messages. */
export function moduleDirectory(host: HostConfig): string {
  return `/lib/modules/${host.release}`;
}
