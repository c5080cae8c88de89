//! End-to-end scenarios: the real DLL, loaded by the NVSE stand-in under Wine.
