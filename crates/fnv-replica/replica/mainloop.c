/*
 * What the main loop's end calls (facts: "the main loop (end)"), at the
 * game's addresses, and the replica's frame in between.
 */
#include "replica.h"

/* The seconds a frame takes: the replica's frames are a fixed 60th. */
CODE_AT(0084D030) float GAME_THISCALL fnv_0084D030(void *timer) {
    (void)timer;
    return 1.0f / 60.0f;
}

/* Whether a pool maintenance pass is asked for now: not by the replica. */
CODE_AT(00702360) unsigned char fnv_00702360(void) {
    return 0;
}

/*
 * The player's state the branch at 0x0086EED4 reads: the replica's player
 * answers yes every frame, so that each frame that branch alone decides
 * whether the maintenance runs (the jnz: yes; the preload patch's jmp: no).
 */
CODE_AT(00950090) unsigned char GAME_THISCALL fnv_00950090(void *player) {
    (void)player;
    return 1;
}

/* The player, once the game is on (g_thePlayer at 0x011DEA3C). */
static unsigned char replica_player[64];

void replica_enter_game(void) {
    fnv_the_player = replica_player;
}

/* The replica's frame: the work between the main loop's start and its end. */
void GAME_THISCALL replica_frame(void *game) {
    (void)game;
    InterlockedIncrement(&replica_state.frames);
}
