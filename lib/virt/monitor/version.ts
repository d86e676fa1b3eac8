/**
 * How the monitors identify the emulator: QMP's greeting and query-version, HMP's `info version`.
 * The CLI passes its own; the default matches cli/qemu-system's `--version` (QEMU 7.2.22, with this
 * project named where distributions put their package version).
 */
export interface VersionInfo {
  major: number;
  minor: number;
  micro: number;
  /** QEMU's pkgversion, printed right after the version number by `info version`. */
  package: string;
}

export const DEFAULT_VERSION: VersionInfo = { major: 7, minor: 2, micro: 22, package: "qemu-kvm-ts 0.1.0" };
