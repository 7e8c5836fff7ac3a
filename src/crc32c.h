/* CRC32C (Castagnoli), the checksum on every WAL record, segment block and footer. */
#ifndef FLOE_CRC32C_H
#define FLOE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 to start) over len bytes of buf. Uses SSE4.2 when the CPU has it. Thread-safe. */
uint32_t crc32c_extend(uint32_t crc, const void *buf, size_t len);

/* The portable slicing-by-8 implementation behind crc32c_extend, with the same contract. Exposed so
 * tests can check that it and the hardware path agree; other code calls crc32c_extend. */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* 1 if crc32c_extend uses the CPU's crc32 instruction, 0 if it uses crc32c_sw. */
int crc32c_hw_available(void);

static inline uint32_t crc32c(const void *buf, size_t len)
{
    return crc32c_extend(0, buf, len);
}

#endif
