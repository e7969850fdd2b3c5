/**
 * CRCs of the BM13xx-family UART protocol, as pure functions.
 * Source: bitaxeorg/ESP-Miner components/asic/crc.c (crc5: "Poly x^5 + x^2 + 1 MSB-first",
 * init 0x1F, no final xor; crc16_false: CRC-16/CCITT-FALSE, poly 0x1021, init 0xFFFF).
 */

/** CRC5 over the first `bits` bits of `data`, MSB first. */
export function crc5Bits(data: Uint8Array, bits: number): number {
  let crc = 0x1f;
  for (let i = 0; i < bits; i++) {
    const bit = (data[i >> 3] >> (7 - (i & 7))) & 1;
    const fb = ((crc >> 4) ^ bit) & 1;
    crc = (((crc << 1) | fb) ^ (fb << 2)) & 0x1f;
  }
  return crc;
}

/** CRC5 over whole bytes (command frames: header, length and data). */
export function crc5(data: Uint8Array): number {
  return crc5Bits(data, data.length * 8);
}

/** CRC-16/CCITT-FALSE (check value of "123456789" is 0x29B1), for job frames. */
export function crc16False(data: Uint8Array): number {
  let crc = 0xffff;
  for (const byte of data) {
    crc ^= byte << 8;
    for (let b = 0; b < 8; b++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}
