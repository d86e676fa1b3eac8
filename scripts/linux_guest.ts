/**
 * Builds the Debian i386 Linux guest of issue 7 into guest/ (never committed):
 *   guest/vmlinuz     Debian's linux-image-686 kernel, unmodified
 *   guest/initrd.gz   a gzip cpio (newc) initramfs: static busybox, an /init that mounts proc, sys
 *                     and devtmpfs, insmods the IDE/SCSI-disk/ext4 modules and starts a shell on ttyS0
 *   guest/disk.qcow2  an ext4 filesystem made by mkfs.ext4 -d, converted to qcow2 by OUR qemu-img
 *
 * Idempotent: each step is skipped when its output exists (`--force` rebuilds the initramfs and the
 * disk). The packages come from `apt-get download` (after `dpkg --add-architecture i386` and
 * `apt-get update` when the i386 packages are not known yet); that needs root, as in CI.
 *
 *   deno run --allow-read --allow-write --allow-run --allow-env scripts/linux_guest.ts [--force]
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const PROJECT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const GUEST_DIR = join(PROJECT, "guest");
const DEBS = join(GUEST_DIR, "debs");
const ROOT = join(GUEST_DIR, "root");

/** Modules /init loads, in the order given; their depends= (and crypto softdeps) go first. */
const WANTED = ["ata_piix", "sd_mod", "ext4"];

/** The file the disk carries from the start, and the one the guest is told to write. */
export const DISK_SEED = { path: "hello.txt", text: "written on the host by mkfs.ext4 -d\n" };

async function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; quiet?: boolean } = {},
): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd: opts.cwd, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${out.code}):\n${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return text;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function log(text: string): void {
  console.error(`linux-guest: ${text}`);
}

/** The versioned kernel package the linux-image-686 meta-package depends on. */
async function kernelPackage(): Promise<string> {
  let depends = "";
  try {
    depends = await run("apt-cache", ["depends", "linux-image-686:i386"]);
  } catch {
    // unknown package: fall through to enabling i386
  }
  let match = depends.match(/Depends: (linux-image-6\.1\.0-[0-9]+-686)/);
  if (!match) {
    log("enabling i386 packages (dpkg --add-architecture i386, apt-get update)");
    await run("dpkg", ["--add-architecture", "i386"]);
    await run("apt-get", ["update", "-q"]);
    depends = await run("apt-cache", ["depends", "linux-image-686:i386"]);
    match = depends.match(/Depends: (linux-image-6\.1\.0-[0-9]+-686)/);
  }
  if (!match) throw new Error("cannot resolve the kernel package of linux-image-686:i386");
  return match[1];
}

async function download(): Promise<void> {
  Deno.mkdirSync(DEBS, { recursive: true });
  const have = [...Deno.readDirSync(DEBS)].map((e) => e.name);
  if (have.some((n) => n.startsWith("linux-image-")) && have.some((n) => n.startsWith("busybox-static"))) {
    return;
  }
  const kernel = await kernelPackage();
  log(`apt-get download ${kernel}:i386 busybox-static:i386`);
  await run("apt-get", ["download", `${kernel}:i386`, "busybox-static:i386"], { cwd: DEBS });
}

async function extract(): Promise<string> {
  if (!exists(join(ROOT, "bin", "busybox"))) {
    Deno.mkdirSync(ROOT, { recursive: true });
    for (const deb of Deno.readDirSync(DEBS)) {
      if (deb.name.endsWith(".deb")) await run("dpkg-deb", ["-x", join(DEBS, deb.name), ROOT]);
    }
  }
  const kernels = [...Deno.readDirSync(join(ROOT, "lib", "modules"))].map((e) => e.name).sort();
  if (kernels.length === 0) throw new Error("no kernel modules in the extracted package");
  return kernels[kernels.length - 1];
}

/** One field of a module's .modinfo section (`depends`, `softdep`, `alias`...), every occurrence. */
function modinfo(ko: Uint8Array, key: string): string[] {
  const text = new TextDecoder("latin1").decode(ko);
  const found: string[] = [];
  const re = new RegExp(`\\0${key}=([^\\0]*)`, "g");
  for (const m of text.matchAll(re)) found.push(m[1]);
  return found;
}

const normalize = (name: string) => name.replaceAll("-", "_");

/** The modules to load, dependencies first, as paths relative to lib/modules/<version>. */
function resolveModules(version: string): string[] {
  const base = join(ROOT, "lib", "modules", version);
  const byName = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(join(base, dir))) {
      const rel = dir ? `${dir}/${e.name}` : e.name;
      if (e.isDirectory) walk(rel);
      else if (e.name.endsWith(".ko")) byName.set(normalize(e.name.slice(0, -3)), rel);
    }
  };
  walk("kernel");
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string) => {
    const key = normalize(name);
    if (seen.has(key)) return;
    seen.add(key);
    const rel = byName.get(key);
    if (!rel) throw new Error(`module ${name} is not in the package (built in?)`);
    const ko = Deno.readFileSync(join(base, rel));
    for (const soft of modinfo(ko, "softdep")) {
      // "pre: crypto-crc32c": the crypto API asks for an alias; the generic implementation serves it
      // on every CPU (crc32c-intel needs SSE4.2).
      for (const dep of soft.replace(/^pre:\s*/, "").split(/\s+/).filter((d) => d.startsWith("crypto-"))) {
        const alg = dep.slice("crypto-".length);
        const generic = [`${alg}_generic`, alg].map(normalize).find((n) => byName.has(n));
        if (generic) visit(generic);
      }
    }
    for (const dep of modinfo(ko, "depends").flatMap((d) => d.split(",")).filter(Boolean)) visit(dep);
    order.push(rel);
  };
  for (const name of WANTED) visit(name);
  return order;
}

/** A cpio "newc" archive (the format the kernel's initramfs unpacker reads). */
class NewcWriter {
  private chunks: Uint8Array[] = [];
  private size = 0;
  private ino = 1;

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.size += bytes.length;
  }

  private pad(): void {
    const rem = this.size % 4;
    if (rem) this.push(new Uint8Array(4 - rem));
  }

  add(name: string, mode: number, data = new Uint8Array(0), rdev: [number, number] = [0, 0]): void {
    const hex = (n: number) => n.toString(16).padStart(8, "0");
    const nameBytes = new TextEncoder().encode(name + "\0");
    const fields = [this.ino++, mode, 0, 0, (mode & 0o170000) === 0o040000 ? 2 : 1, 0, data.length, 0, 0];
    const header = "070701" + fields.map(hex).join("") + hex(rdev[0]) + hex(rdev[1]) + hex(nameBytes.length) +
      hex(0);
    this.push(new TextEncoder().encode(header));
    this.push(nameBytes);
    this.pad();
    this.push(data);
    this.pad();
  }

  finish(): Uint8Array {
    this.add("TRAILER!!!", 0);
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

const DIR = 0o040755, FILE = 0o100644, EXEC = 0o100755, CHR = 0o020600;

function initScript(modules: string[], version: string): string {
  return [
    "#!/bin/busybox sh",
    "/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin",
    "/bin/busybox --install -s",
    "mount -t proc proc /proc",
    "mount -t sysfs sysfs /sys",
    "mount -t devtmpfs devtmpfs /dev",
    ...modules.map((m) => `insmod /lib/modules/${version}/${m}`),
    "echo 'linux-guest: init done'",
    "export PS1='guest# '",
    "exec setsid cttyhack sh",
    "",
  ].join("\n");
}

function buildInitrd(version: string, out: string): void {
  const modules = resolveModules(version);
  const cpio = new NewcWriter();
  for (
    const dir of ["bin", "dev", "proc", "sys", "mnt", "tmp", "lib", "lib/modules", `lib/modules/${version}`]
  ) {
    cpio.add(dir, DIR);
  }
  cpio.add("dev/console", CHR, undefined, [5, 1]);
  cpio.add("dev/ttyS0", CHR, undefined, [4, 64]);
  cpio.add("bin/busybox", EXEC, Deno.readFileSync(join(ROOT, "bin", "busybox")));
  const dirs = new Set<string>();
  for (const m of modules) {
    const parts = m.split("/");
    for (let i = 1; i < parts.length; i++) {
      const d = `lib/modules/${version}/${parts.slice(0, i).join("/")}`;
      if (!dirs.has(d)) cpio.add(d, DIR), dirs.add(d);
    }
    cpio.add(
      `lib/modules/${version}/${m}`,
      FILE,
      Deno.readFileSync(join(ROOT, "lib", "modules", version, m)),
    );
  }
  cpio.add("init", EXEC, new TextEncoder().encode(initScript(modules, version)));
  Deno.writeFileSync(out, gzipSync(cpio.finish(), { level: 9 }));
  log(`initrd.gz: busybox + ${modules.length} modules (${modules.map((m) => m.split("/").pop()).join(" ")})`);
}

async function buildDisk(out: string): Promise<void> {
  const seed = join(GUEST_DIR, "disk-seed");
  const raw = join(GUEST_DIR, "disk-build.raw");
  Deno.mkdirSync(seed, { recursive: true });
  Deno.writeTextFileSync(join(seed, DISK_SEED.path), DISK_SEED.text);
  try {
    Deno.removeSync(raw);
  } catch { /* first build */ }
  if (!exists("/usr/sbin/mkfs.ext4") && !exists("/sbin/mkfs.ext4")) {
    log("installing e2fsprogs");
    await run("apt-get", ["install", "-y", "-q", "e2fsprogs"]);
  }
  await run("mkfs.ext4", ["-q", "-F", "-L", "guestdisk", "-d", seed, raw, "32M"]);
  // Our qemu-img, exactly as its deno task runs it.
  await run(Deno.execPath(), [
    "run",
    "--quiet",
    "--allow-read",
    "--allow-write",
    join(PROJECT, "cli", "qemu-img.ts"),
    "convert",
    "-f",
    "raw",
    "-O",
    "qcow2",
    raw,
    out,
  ]);
  Deno.removeSync(raw);
  log("disk.qcow2: 32 MiB ext4 (mkfs.ext4 -d), converted by our qemu-img");
}

export async function buildGuest(force = false): Promise<void> {
  await download();
  const version = await extract();
  const vmlinuz = join(GUEST_DIR, "vmlinuz");
  if (!exists(vmlinuz)) Deno.copyFileSync(join(ROOT, "boot", `vmlinuz-${version}`), vmlinuz);
  const initrd = join(GUEST_DIR, "initrd.gz");
  if (force || !exists(initrd)) buildInitrd(version, initrd);
  const disk = join(GUEST_DIR, "disk.qcow2");
  if (force || !exists(disk)) await buildDisk(disk);
  log(`ready: ${vmlinuz} ${initrd} ${disk}`);
}

if (import.meta.main) {
  const started = performance.now();
  await buildGuest(Deno.args.includes("--force"));
  log(`took ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
