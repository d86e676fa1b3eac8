/**
 * The root of every error lib/ throws. lib/ never prints and never exits: each layer throws a
 * subclass of LibError carrying what the CLI needs (an errno-like code, the file at fault), and
 * cli/ turns it into the real tool's message and exit status.
 */
export class LibError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A Linux errno with its strerror text; the simulated kernel and the image layer speak in these. */
export const Errno = {
  EPERM: { errno: 1, text: "Operation not permitted" },
  ENOENT: { errno: 2, text: "No such file or directory" },
  EINTR: { errno: 4, text: "Interrupted system call" },
  EIO: { errno: 5, text: "Input/output error" },
  ENXIO: { errno: 6, text: "No such device or address" },
  E2BIG: { errno: 7, text: "Argument list too long" },
  ENOEXEC: { errno: 8, text: "Exec format error" },
  EBADF: { errno: 9, text: "Bad file descriptor" },
  EAGAIN: { errno: 11, text: "Resource temporarily unavailable" },
  ENOMEM: { errno: 12, text: "Cannot allocate memory" },
  EACCES: { errno: 13, text: "Permission denied" },
  EFAULT: { errno: 14, text: "Bad address" },
  EBUSY: { errno: 16, text: "Device or resource busy" },
  EEXIST: { errno: 17, text: "File exists" },
  ENODEV: { errno: 19, text: "No such device" },
  ENOTDIR: { errno: 20, text: "Not a directory" },
  EINVAL: { errno: 22, text: "Invalid argument" },
  ENOTTY: { errno: 25, text: "Inappropriate ioctl for device" },
  EFBIG: { errno: 27, text: "File too large" },
  ENOSPC: { errno: 28, text: "No space left on device" },
  EROFS: { errno: 30, text: "Read-only file system" },
  ERANGE: { errno: 34, text: "Numerical result out of range" },
  ENOSYS: { errno: 38, text: "Function not implemented" },
  ELOOP: { errno: 40, text: "Too many levels of symbolic links" },
  ENOTSUP: { errno: 95, text: "Operation not supported" },
} as const;

export type ErrnoName = keyof typeof Errno;

/** An error that carries a Linux errno, for layers that mimic the kernel or libc. */
export class ErrnoError extends LibError {
  readonly code: ErrnoName;
  constructor(code: ErrnoName, message?: string, options?: ErrorOptions) {
    super(message ?? Errno[code].text, options);
    this.code = code;
  }
  get errno(): number {
    return Errno[this.code].errno;
  }
  /** The strerror(3) text, e.g. "No such file or directory". */
  get strerror(): string {
    return Errno[this.code].text;
  }
}
