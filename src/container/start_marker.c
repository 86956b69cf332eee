/* joulebench-container-start: the entrypoint joulebench gives a run's container. The first process
 * inside, it tells joulebench that container start-up is over (the end of the "container-start"
 * region, on the events channel's named pipe), then becomes the image's entrypoint with the
 * command. Static, in C, with no library: it must run in any image, whatever its libc. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 2) {
    fputs("joulebench-container-start: no command to run\n", stderr);
    return 127;
  }
  const char* events = getenv("JOULEBENCH_EVENTS_PATH");
  if (events != NULL && *events != '\0') {
    /* Non-blocking: a pipe nobody reads (joulebench gone) must not hold the workload back. */
    const int fd = open(events, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) {
      static const char line[] = "{\"event\":\"end\",\"region\":\"container-start\"}\n";
      if (write(fd, line, sizeof line - 1) < 0) { /* events are optional */
      }
      close(fd);
    }
  }
  execvp(argv[1], argv + 1);
  const int error = errno;
  fprintf(stderr, "joulebench-container-start: cannot run %s: %s\n", argv[1], strerror(error));
  return error == ENOENT ? 127 : 126;
}
