/* A fake NVIDIA Management Library (libnvidia-ml.so.1) for tests.
 *
 * It exports the NVML functions that src/sensors/nvml.cpp binds with dlsym, with NVML's real
 * signatures and return codes, so the real source is driven through the same dlopen path as on a
 * GPU machine. Its GPUs draw a power known analytically, so a test can compute the true energy of
 * any interval.
 *
 * Behaviour, read from the environment at nvmlInit_v2 (when NVML goes from uninitialised to
 * initialised; NVML's initialisation is reference counted, as the real library's is):
 *
 *   FAKE_NVML_SCENARIO     counter  (default) energy counter and power both present
 *                          power    nvmlDeviceGetTotalEnergyConsumption returns NOT_SUPPORTED
 *                          error    as counter, but energy and power calls return GPU_IS_LOST from
 *                                   FAKE_NVML_FAIL_AFTER_S seconds after init, for
 *                                   FAKE_NVML_FAIL_FOR_S seconds, then work again
 *                          nogpu    nvmlDeviceGetCount_v2 reports 0 GPUs
 *                          nodriver nvmlInit_v2 returns DRIVER_NOT_LOADED
 *                          noperm   nvmlInit_v2 returns NO_PERMISSION
 *                          (anything else: nvmlInit_v2 returns UNKNOWN, so a typo fails loudly)
 *   FAKE_NVML_GPUS         number of GPUs, 0..16 (default 1)
 *   FAKE_NVML_POWER_W      P (default 100): GPU i draws P + 10*i watts
 *   FAKE_NVML_POWERS_W     W0,W1,... (default unset): GPU i draws Wi watts instead (one number per
 *                          GPU at least; extra numbers are ignored)
 *   FAKE_NVML_NO_UUID      1: nvmlDeviceGetUUID returns NOT_SUPPORTED (as for a library without it);
 *                          otherwise GPU i's UUID is GPU-fa4e0000-0000-4000-8000-<i as 12 digits>
 *   FAKE_NVML_RAMP_W_PER_S R (default 0), power scenario only: GPU i draws P + 10*i + R*t watts,
 *                          t = seconds since init (CLOCK_MONOTONIC)
 *   FAKE_NVML_FAIL_AFTER_S error scenario: start of the failure (default 0.1)
 *   FAKE_NVML_FAIL_FOR_S   error scenario: length of the failure (default 0.1)
 *   FAKE_NVML_JUMP_J       J (default 0): from FAKE_NVML_JUMP_AT_S seconds after init (default 0.1)
 *                          the energy counter reads J joules more than the GPU drew, as a glitch
 *                          would make it
 *
 * Every GPU states an enforced power limit of 300 W and limit constraints of 100 to 400 W.
 *
 * A malformed number also makes nvmlInit_v2 return UNKNOWN (with a message on stderr).
 *
 * The energy counter is the integral of the power since init, in mJ, truncated to an integer; it
 * keeps counting while calls fail, as a real GPU's does. Power readings are in mW, rounded.
 *
 * For tests: fake_nvml_init_count() and fake_nvml_shutdown_count() count every call of
 * nvmlInit_v2 and nvmlShutdown in this process (while the library stays loaded), and
 * fake_nvml_seconds_since_init() is the t above (negative while uninitialised).
 *
 * Plain C99 plus POSIX clock_gettime; no dependencies. Not thread-safe beyond what the source
 * needs: one thread initialises, then any one thread at a time reads.
 */
#define _POSIX_C_SOURCE 199309L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- NVML's declarations (as in nvml.h) ---- */

typedef enum nvmlReturn_enum {
  NVML_SUCCESS = 0,
  NVML_ERROR_UNINITIALIZED = 1,
  NVML_ERROR_INVALID_ARGUMENT = 2,
  NVML_ERROR_NOT_SUPPORTED = 3,
  NVML_ERROR_NO_PERMISSION = 4,
  NVML_ERROR_ALREADY_INITIALIZED = 5,
  NVML_ERROR_NOT_FOUND = 6,
  NVML_ERROR_INSUFFICIENT_SIZE = 7,
  NVML_ERROR_INSUFFICIENT_POWER = 8,
  NVML_ERROR_DRIVER_NOT_LOADED = 9,
  NVML_ERROR_TIMEOUT = 10,
  NVML_ERROR_IRQ_ISSUE = 11,
  NVML_ERROR_LIBRARY_NOT_FOUND = 12,
  NVML_ERROR_FUNCTION_NOT_FOUND = 13,
  NVML_ERROR_CORRUPTED_INFOROM = 14,
  NVML_ERROR_GPU_IS_LOST = 15,
  NVML_ERROR_UNKNOWN = 999
} nvmlReturn_t;

typedef enum nvmlTemperatureSensors_enum { NVML_TEMPERATURE_GPU = 0 } nvmlTemperatureSensors_t;

typedef enum nvmlClockType_enum {
  NVML_CLOCK_GRAPHICS = 0,
  NVML_CLOCK_SM = 1,
  NVML_CLOCK_MEM = 2,
  NVML_CLOCK_VIDEO = 3
} nvmlClockType_t;

struct nvmlDevice_st {
  unsigned int index;
};
typedef struct nvmlDevice_st* nvmlDevice_t;

/* Exported: the NVML functions the source binds, and the test hooks. */
nvmlReturn_t nvmlInit_v2(void);
nvmlReturn_t nvmlShutdown(void);
const char* nvmlErrorString(nvmlReturn_t result);
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int* deviceCount);
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t* device);
nvmlReturn_t nvmlSystemGetDriverVersion(char* version, unsigned int length);
nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char* name, unsigned int length);
nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char* uuid, unsigned int length);
nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long* energy);
nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int* power);
nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int* limit);
nvmlReturn_t nvmlDeviceGetPowerManagementLimitConstraints(nvmlDevice_t device, unsigned int* minLimit,
                                                          unsigned int* maxLimit);
nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, nvmlTemperatureSensors_t sensorType, unsigned int* temp);
nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, nvmlClockType_t type, unsigned int* clock);

int fake_nvml_init_count(void);
int fake_nvml_shutdown_count(void);
double fake_nvml_seconds_since_init(void);

/* ---- state ---- */

#define FAKE_MAX_GPUS 16

enum scenario { SCENARIO_COUNTER, SCENARIO_POWER, SCENARIO_ERROR, SCENARIO_NOGPU };

static struct nvmlDevice_st g_devices[FAKE_MAX_GPUS];
static int g_init_calls = 0;
static int g_shutdown_calls = 0;
static int g_references = 0; /* nvmlInit_v2 successes not yet matched by nvmlShutdown */
static struct timespec g_init_time;

static enum scenario g_scenario = SCENARIO_COUNTER;
static unsigned int g_gpus = 1;
static double g_power_w = 100.0;
static double g_ramp_w_per_s = 0.0;
static double g_fail_after_s = 0.1;
static double g_fail_for_s = 0.1;
static double g_jump_j = 0.0;
static double g_jump_at_s = 0.1;
static double g_powers_w[FAKE_MAX_GPUS];
static int g_powers_given = 0; /* FAKE_NVML_POWERS_W set: g_powers_w holds one per GPU */
static int g_no_uuid = 0;

static double elapsed_since(const struct timespec* start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) * 1e-9;
}

/* Reads a number from the environment: 1 on success (or when unset: *out keeps its default). */
static int number_from_environment(const char* name, double* out) {
  const char* text = getenv(name);
  char* end = NULL;
  double value;
  if (text == NULL || *text == '\0') return 1;
  errno = 0;
  value = strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || value != value || value < 0.0) {
    fprintf(stderr, "fake NVML: %s=%s is not a non-negative number\n", name, text);
    return 0;
  }
  *out = value;
  return 1;
}

/* Reads FAKE_NVML_POWERS_W into g_powers_w: 1 on success or when unset, 0 when malformed. */
static int powers_from_environment(unsigned int gpus) {
  const char* text = getenv("FAKE_NVML_POWERS_W");
  unsigned int i;
  g_powers_given = 0;
  if (text == NULL || *text == '\0') return 1;
  for (i = 0; i < FAKE_MAX_GPUS && *text != '\0'; ++i) {
    char* end = NULL;
    double value;
    errno = 0;
    value = strtod(text, &end);
    if (errno != 0 || end == text || (*end != ',' && *end != '\0') || value != value || value < 0.0) break;
    g_powers_w[i] = value;
    text = *end == ',' ? end + 1 : end;
  }
  if (*text != '\0' || i < gpus) {
    fprintf(stderr, "fake NVML: FAKE_NVML_POWERS_W=%s is not %u or more non-negative numbers, comma-separated\n",
            getenv("FAKE_NVML_POWERS_W"), gpus);
    return 0;
  }
  g_powers_given = 1;
  return 1;
}

/* Reads the configuration; returns the status nvmlInit_v2 reports. */
static nvmlReturn_t configure(void) {
  const char* scenario = getenv("FAKE_NVML_SCENARIO");
  double gpus = 1.0;
  g_scenario = SCENARIO_COUNTER;
  g_gpus = 1;
  g_power_w = 100.0;
  g_ramp_w_per_s = 0.0;
  g_fail_after_s = 0.1;
  g_fail_for_s = 0.1;
  g_jump_j = 0.0;
  g_jump_at_s = 0.1;

  if (scenario == NULL || *scenario == '\0' || strcmp(scenario, "counter") == 0) {
    g_scenario = SCENARIO_COUNTER;
  } else if (strcmp(scenario, "power") == 0) {
    g_scenario = SCENARIO_POWER;
  } else if (strcmp(scenario, "error") == 0) {
    g_scenario = SCENARIO_ERROR;
  } else if (strcmp(scenario, "nogpu") == 0) {
    g_scenario = SCENARIO_NOGPU;
  } else if (strcmp(scenario, "nodriver") == 0) {
    return NVML_ERROR_DRIVER_NOT_LOADED;
  } else if (strcmp(scenario, "noperm") == 0) {
    return NVML_ERROR_NO_PERMISSION;
  } else {
    fprintf(stderr, "fake NVML: unknown FAKE_NVML_SCENARIO=%s\n", scenario);
    return NVML_ERROR_UNKNOWN;
  }
  if (!number_from_environment("FAKE_NVML_GPUS", &gpus) || !number_from_environment("FAKE_NVML_POWER_W", &g_power_w) ||
      !number_from_environment("FAKE_NVML_RAMP_W_PER_S", &g_ramp_w_per_s) ||
      !number_from_environment("FAKE_NVML_FAIL_AFTER_S", &g_fail_after_s) ||
      !number_from_environment("FAKE_NVML_FAIL_FOR_S", &g_fail_for_s) ||
      !number_from_environment("FAKE_NVML_JUMP_J", &g_jump_j) ||
      !number_from_environment("FAKE_NVML_JUMP_AT_S", &g_jump_at_s)) {
    return NVML_ERROR_UNKNOWN;
  }
  if (gpus > FAKE_MAX_GPUS || gpus != (double)(unsigned int)gpus) {
    fprintf(stderr, "fake NVML: FAKE_NVML_GPUS must be a whole number from 0 to %d\n", FAKE_MAX_GPUS);
    return NVML_ERROR_UNKNOWN;
  }
  g_gpus = g_scenario == SCENARIO_NOGPU ? 0u : (unsigned int)gpus;
  if (!powers_from_environment(g_gpus)) return NVML_ERROR_UNKNOWN;
  {
    const char* no_uuid = getenv("FAKE_NVML_NO_UUID");
    g_no_uuid = no_uuid != NULL && strcmp(no_uuid, "1") == 0;
  }
  if (g_scenario != SCENARIO_POWER) g_ramp_w_per_s = 0.0;
  return NVML_SUCCESS;
}

/* Whether `device` is one of this library's GPUs; NVML_SUCCESS if so. */
static nvmlReturn_t check_device(nvmlDevice_t device) {
  if (g_references == 0) return NVML_ERROR_UNINITIALIZED;
  if (device == NULL || device < &g_devices[0] || device >= &g_devices[g_gpus]) return NVML_ERROR_INVALID_ARGUMENT;
  return NVML_SUCCESS;
}

/* Energy and power calls fail with GPU_IS_LOST during the error scenario's failure. */
static int lost_now(double t) {
  return g_scenario == SCENARIO_ERROR && t >= g_fail_after_s && t < g_fail_after_s + g_fail_for_s;
}

static double base_watts(const struct nvmlDevice_st* device) {
  return g_powers_given ? g_powers_w[device->index] : g_power_w + 10.0 * (double)device->index;
}

static nvmlReturn_t copy_text(const char* text, char* out, unsigned int length) {
  if (out == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  if (strlen(text) + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
  memcpy(out, text, strlen(text) + 1);
  return NVML_SUCCESS;
}

/* ---- NVML ---- */

nvmlReturn_t nvmlInit_v2(void) {
  nvmlReturn_t status;
  ++g_init_calls;
  if (g_references > 0) {
    ++g_references;
    return NVML_SUCCESS;
  }
  status = configure();
  if (status != NVML_SUCCESS) return status;
  clock_gettime(CLOCK_MONOTONIC, &g_init_time);
  ++g_references;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlShutdown(void) {
  ++g_shutdown_calls;
  if (g_references == 0) return NVML_ERROR_UNINITIALIZED;
  --g_references;
  return NVML_SUCCESS;
}

const char* nvmlErrorString(nvmlReturn_t result) {
  switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
    case NVML_ERROR_ALREADY_INITIALIZED: return "Already Initialized";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_INSUFFICIENT_POWER: return "Insufficient External Power";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_TIMEOUT: return "Timeout";
    case NVML_ERROR_IRQ_ISSUE: return "Interrupted by IRQ";
    case NVML_ERROR_LIBRARY_NOT_FOUND: return "NVML Shared Library Not Found";
    case NVML_ERROR_FUNCTION_NOT_FOUND: return "Function Not Found";
    case NVML_ERROR_CORRUPTED_INFOROM: return "Corrupted infoROM";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    case NVML_ERROR_UNKNOWN: return "Unknown Error";
  }
  return "Unknown Error";
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int* deviceCount) {
  if (g_references == 0) return NVML_ERROR_UNINITIALIZED;
  if (deviceCount == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  *deviceCount = g_gpus;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t* device) {
  if (g_references == 0) return NVML_ERROR_UNINITIALIZED;
  if (device == NULL || index >= g_gpus) return NVML_ERROR_INVALID_ARGUMENT;
  g_devices[index].index = index;
  *device = &g_devices[index];
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlSystemGetDriverVersion(char* version, unsigned int length) {
  if (g_references == 0) return NVML_ERROR_UNINITIALIZED;
  return copy_text("535.999.01-fake", version, length);
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char* name, unsigned int length) {
  char text[64];
  const nvmlReturn_t status = check_device(device);
  if (status != NVML_SUCCESS) return status;
  snprintf(text, sizeof text, "Fake NVIDIA GPU %u", device->index);
  return copy_text(text, name, length);
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char* uuid, unsigned int length) {
  char text[64];
  const nvmlReturn_t status = check_device(device);
  if (status != NVML_SUCCESS) return status;
  if (g_no_uuid) return NVML_ERROR_NOT_SUPPORTED;
  snprintf(text, sizeof text, "GPU-fa4e0000-0000-4000-8000-%012u", device->index);
  return copy_text(text, uuid, length);
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long* energy) {
  double t;
  double joules;
  const nvmlReturn_t status = check_device(device);
  if (status != NVML_SUCCESS) return status;
  if (energy == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  if (g_scenario == SCENARIO_POWER) return NVML_ERROR_NOT_SUPPORTED;
  t = fake_nvml_seconds_since_init();
  if (lost_now(t)) return NVML_ERROR_GPU_IS_LOST;
  joules = base_watts(device) * t + 0.5 * g_ramp_w_per_s * t * t;
  if (t >= g_jump_at_s) joules += g_jump_j;
  *energy = (unsigned long long)(joules * 1000.0);
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int* power) {
  double t;
  const nvmlReturn_t status = check_device(device);
  if (status != NVML_SUCCESS) return status;
  if (power == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  t = fake_nvml_seconds_since_init();
  if (lost_now(t)) return NVML_ERROR_GPU_IS_LOST;
  *power = (unsigned int)((base_watts(device) + g_ramp_w_per_s * t) * 1000.0 + 0.5);
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int* limit) {
  const nvmlReturn_t status = check_device(device);
  if (status != NVML_SUCCESS) return status;
  if (limit == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  *limit = 300000u;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetPowerManagementLimitConstraints(nvmlDevice_t device, unsigned int* minLimit,
                                                          unsigned int* maxLimit) {
  const nvmlReturn_t status = check_device(device);
  if (status != NVML_SUCCESS) return status;
  if (minLimit == NULL || maxLimit == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  *minLimit = 100000u;
  *maxLimit = 400000u;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, nvmlTemperatureSensors_t sensorType, unsigned int* temp) {
  const nvmlReturn_t status = check_device(device);
  if (status != NVML_SUCCESS) return status;
  if (temp == NULL || sensorType != NVML_TEMPERATURE_GPU) return NVML_ERROR_INVALID_ARGUMENT;
  *temp = 40u + device->index;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, nvmlClockType_t type, unsigned int* clock) {
  const nvmlReturn_t status = check_device(device);
  if (status != NVML_SUCCESS) return status;
  if (clock == NULL) return NVML_ERROR_INVALID_ARGUMENT;
  switch (type) {
    case NVML_CLOCK_GRAPHICS:
    case NVML_CLOCK_SM: *clock = 1410u; return NVML_SUCCESS;
    case NVML_CLOCK_MEM: *clock = 1215u; return NVML_SUCCESS;
    case NVML_CLOCK_VIDEO: *clock = 1275u; return NVML_SUCCESS;
  }
  return NVML_ERROR_INVALID_ARGUMENT;
}

/* ---- test hooks ---- */

int fake_nvml_init_count(void) { return g_init_calls; }

int fake_nvml_shutdown_count(void) { return g_shutdown_calls; }

double fake_nvml_seconds_since_init(void) {
  if (g_references == 0) return -1.0;
  return elapsed_since(&g_init_time);
}
