// Replaced by the fake NVML library.
int fake_nvml_placeholder;
