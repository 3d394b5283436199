// Reads a SQLite write-ahead log (the `-wal` file) the way SQLite's recovery does, to find what that
// recovery would drop without a word. SQLite replays frames up to the first one whose checksum or salt
// does not match and ignores the rest, so one damaged byte in the middle of the log silently discards
// every transaction committed after it. Format: https://sqlite.org/fileformat2.html#walformat

import { closeSync, openSync, readSync, fstatSync } from 'node:fs'

const HEADER_BYTES = 32
const FRAME_HEADER_BYTES = 24
const MAGIC_LE = 0x377f0682
const MAGIC_BE = 0x377f0683

/** What the log holds beyond what SQLite's recovery will read. */
export interface WalDamage {
  /** 1-based number of the first frame SQLite will not read; 0 when the log's header is unreadable. */
  firstBadFrame: number
  /** Frames of the log's current generation that recovery drops (the bad one and every one after it). */
  lostFrames: number
  /** Commits among them. */
  lostCommits: number
  /** Frames in the file. */
  frames: number
}

/**
 * Returns the damage in the log at `path`, or undefined when there is none (or no log). A log whose
 * only unreadable frames are its last ones is not damage: that is a transaction a crash interrupted
 * before it was acknowledged (it cannot be told apart from a damaged last transaction).
 */
export function inspectWal(path: string): WalDamage | undefined {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch {
    return undefined
  }
  try {
    const size = fstatSync(fd).size
    if (size <= HEADER_BYTES) return undefined
    const header = Buffer.alloc(HEADER_BYTES)
    readSync(fd, header, 0, HEADER_BYTES, 0)
    const magic = header.readUInt32BE(0)
    const pageSize = header.readUInt32BE(8)
    const validPageSize = pageSize >= 512 && pageSize <= 65536 && (pageSize & (pageSize - 1)) === 0
    const frameBytes = FRAME_HEADER_BYTES + (validPageSize ? pageSize : 4096)
    const frames = Math.floor((size - HEADER_BYTES) / frameBytes)
    if (frames === 0) return undefined
    const bigEndian = magic === MAGIC_BE
    let sums: [number, number] = [0, 0]
    if ((magic === MAGIC_LE || bigEndian) && validPageSize) sums = checksum(header, 0, 24, sums, bigEndian)
    if (
      (magic !== MAGIC_LE && !bigEndian) ||
      !validPageSize ||
      sums[0] !== header.readUInt32BE(24) ||
      sums[1] !== header.readUInt32BE(28)
    ) {
      // An unreadable header makes SQLite ignore the whole log.
      return {
        firstBadFrame: 0,
        lostFrames: frames,
        lostCommits: countCommits(fd, frames, frameBytes),
        frames,
      }
    }
    const salt1 = header.readUInt32BE(16)
    const salt2 = header.readUInt32BE(20)
    const frame = Buffer.alloc(frameBytes)
    let firstBad = -1
    let lostFrames = 0
    let lostCommits = 0
    let currentAfterBad = 0
    for (let i = 0; i < frames; i++) {
      readSync(fd, frame, 0, frameBytes, HEADER_BYTES + i * frameBytes)
      const current = frame.readUInt32BE(8) === salt1 && frame.readUInt32BE(12) === salt2
      const commit = frame.readUInt32BE(4) !== 0
      if (firstBad < 0) {
        if (current) {
          sums = checksum(frame, 0, 8, sums, bigEndian)
          sums = checksum(frame, FRAME_HEADER_BYTES, frameBytes, sums, bigEndian)
          if (sums[0] === frame.readUInt32BE(16) && sums[1] === frame.readUInt32BE(20)) continue
        }
        firstBad = i
      } else if (current) currentAfterBad++
      if (current || i === firstBad) {
        lostFrames++
        if (commit) lostCommits++
      }
    }
    // Frames of this generation after the break: committed work the recovery would drop.
    if (firstBad < 0 || currentAfterBad === 0) return undefined
    return { firstBadFrame: firstBad + 1, lostFrames, lostCommits, frames }
  } finally {
    closeSync(fd)
  }
}

function countCommits(fd: number, frames: number, frameBytes: number): number {
  const head = Buffer.alloc(8)
  let commits = 0
  for (let i = 0; i < frames; i++) {
    readSync(fd, head, 0, 8, HEADER_BYTES + i * frameBytes)
    if (head.readUInt32BE(4) !== 0) commits++
  }
  return commits
}

/** SQLite's WAL checksum over `buf[start, end)` (a multiple of 8 bytes), continuing from `sums`. */
function checksum(
  buf: Buffer,
  start: number,
  end: number,
  sums: [number, number],
  bigEndian: boolean,
): [number, number] {
  let [s1, s2] = sums
  for (let i = start; i < end; i += 8) {
    const x0 = bigEndian ? buf.readUInt32BE(i) : buf.readUInt32LE(i)
    const x1 = bigEndian ? buf.readUInt32BE(i + 4) : buf.readUInt32LE(i + 4)
    s1 = (s1 + x0 + s2) >>> 0
    s2 = (s2 + x1 + s1) >>> 0
  }
  return [s1, s2]
}
