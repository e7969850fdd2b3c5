/**
 * What the operating system said when the doctor could not open a serial port, so the hint
 * answers that and not the generic cable-and-baud advice. Node's own errors carry `code`;
 * serialport's native ones carry only strerror(3) text (@serialport/bindings-cpp
 * serialport_unix.cpp: "Error: %s, cannot open %s" from open(2), "Error %s Cannot lock port"
 * when flock(2) finds the port held), and the drivers wrap them in messages of their own.
 */
export type PortProblem = 'EACCES' | 'EBUSY' | 'ENOENT';

const PATTERNS: Array<[PortProblem, RegExp]> = [
  ['EACCES', /\bEACCES\b|Permission denied/i],
  // flock(LOCK_EX | LOCK_NB) on a held port fails with EWOULDBLOCK, "Resource temporarily unavailable"
  ['EBUSY', /\bEBUSY\b|Cannot lock port|Device or resource busy/i],
  ['ENOENT', /\bENOENT\b|No such file or directory/i],
];

/** the problem behind an error or a message, if it is one of the three a technician can act on */
export function portProblem(e: unknown): PortProblem | undefined {
  const err = e as (NodeJS.ErrnoException & { cause?: unknown }) | string | undefined;
  if (err === undefined || err === null) return undefined;
  if (typeof err === 'string') return PATTERNS.find(([, re]) => re.test(err))?.[0];
  const code = PATTERNS.find(([c]) => c === err.code)?.[0];
  return code ?? portProblem(err.message) ?? (err.cause !== undefined ? portProblem(err.cause) : undefined);
}

/** what to do about it; `path` is the device, `key` the config key that names it */
export function portHint(p: PortProblem, path: string, key: string): string {
  switch (p) {
    case 'EACCES':
      return `permission denied on ${path}: add the service user to the \`dialout\` group (sudo usermod -aG dialout hashflex; ` +
        `install.sh does this) and run the doctor as that user (sudo -u hashflex); if the device is not in dialout: ls -l ${path}`;
    case 'EBUSY':
      return `another process holds the port (is the hashflex service still running? systemctl stop hashflex); ` +
        `sudo fuser -v ${path} names the process`;
    case 'ENOENT':
      return `no such device ${path}: is the cable (the USB adapter) plugged in? ls -l /dev/serial/by-id/ lists what is there; ` +
        `then set ${key} to it`;
  }
}
