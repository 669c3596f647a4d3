/* A stand-in for the NVIDIA driver's libcuda.so.1 that reports one GPU and
 * does nothing else: with it first on LD_LIBRARY_PATH, a test sees what
 * Troupe does on a machine with a GPU whose CUDA backend cannot run (here,
 * because the module is missing). Only the two entry points Troupe's probe
 * asks for exist (kernels/backend.cpp). */
int cuInit(unsigned int flags) {
  (void)flags;
  return 0;
}

int cuDeviceGetCount(int* count) {
  *count = 1;
  return 0;
}
