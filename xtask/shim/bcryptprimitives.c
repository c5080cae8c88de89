/*
 * Test-only stand-in for Windows 10's bcryptprimitives.dll, which Wine 8 lacks.
 *
 * Rust's standard library imports ProcessPrng from it. Windows 10 and later ship
 * the real DLL, so this file is never part of the plugin a player installs: the
 * test runner puts it beside test programs that run under Wine.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length); /* RtlGenRandom */

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
