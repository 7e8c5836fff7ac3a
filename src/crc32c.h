/* CRC32C (Castagnoli), the checksum on every WAL record, segment block and footer. */
#ifndef FLOE_CRC32C_H
#define FLOE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 to start) over len bytes of buf. Uses SSE4.2 when the CPU has it. Thread-safe. */
uint32_t crc32c_extend(uint32_t crc, const void *buf, size_t len);

static inline uint32_t crc32c(const void *buf, size_t len)
{
    return crc32c_extend(0, buf, len);
}

#endif
