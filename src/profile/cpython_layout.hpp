// CPythonLayout: where the fields the external Python sampler reads lie in the structures of each
// CPython version it knows (3.11, 3.12), and which versions those are. The offsets come from the
// version's headers; a version not listed here is sampled from inside the program instead.
// Internal to the profile part.
#pragma once

#include <cstdint>
#include <string>

#include "joulebench/python_sampler.hpp"

namespace joulebench::detail {

/// Where the fields the sampler reads are, in bytes from the start of their structure: offsetof()
/// in the CPython version's headers (Include/internal), for 64-bit Linux.
struct CPythonLayout {
  PythonVersion version;
  std::uint64_t runtime_interpreters_main;  ///< _PyRuntimeState.interpreters.main (not .head: the newest)
  std::uint64_t interpreter_threads_head;   ///< PyInterpreterState.threads.head
  std::uint64_t thread_next;                ///< PyThreadState.next
  std::uint64_t thread_cframe;              ///< PyThreadState.cframe
  std::uint64_t thread_id;                  ///< PyThreadState.thread_id (threading.get_ident())
  std::uint64_t thread_datastack_chunk;     ///< PyThreadState.datastack_chunk: where frames are pushed
  std::uint64_t thread_datastack_top;       ///< PyThreadState.datastack_top: the end of the used part
  std::uint64_t thread_read;                ///< bytes of PyThreadState read: past the last field used
  std::uint64_t cframe_current_frame;       ///< _PyCFrame.current_frame
  std::uint64_t frame_code;                 ///< _PyInterpreterFrame.f_code
  std::uint64_t frame_previous;             ///< _PyInterpreterFrame.previous
  std::uint64_t frame_prev_instr;           ///< _PyInterpreterFrame.prev_instr
  std::uint64_t frame_owner;                ///< _PyInterpreterFrame.owner (char)
  std::uint64_t frame_read;
  std::uint8_t frame_owned_by_generator;  ///< FRAME_OWNED_BY_GENERATOR
  std::uint8_t frame_owned_by_cstack;     ///< FRAME_OWNED_BY_CSTACK: an entry shim, not a call (3.12)
  std::uint64_t object_type;              ///< PyObject.ob_type
  std::uint64_t code_firstlineno;         ///< PyCodeObject.co_firstlineno (int)
  std::uint64_t code_filename;            ///< PyCodeObject.co_filename
  std::uint64_t code_qualname;            ///< PyCodeObject.co_qualname
  std::uint64_t code_firsttraceable;      ///< PyCodeObject._co_firsttraceable (int)
  std::uint64_t code_adaptive;            ///< PyCodeObject.co_code_adaptive: the first instruction
  std::uint64_t unicode_length;           ///< PyASCIIObject.length
  std::uint64_t unicode_state;            ///< PyASCIIObject.state (bit fields)
  std::uint64_t unicode_ascii_data;       ///< sizeof(PyASCIIObject): where compact ASCII text starts
  std::uint64_t unicode_compact_data;     ///< sizeof(PyCompactUnicodeObject): other compact text
};

/// The layout of a CPython version, or null when joulebench does not know it.
const CPythonLayout* layout_for(PythonVersion version);
/// The versions with a known layout, for messages: "3.11, 3.12".
std::string known_versions();
/// A version from Py_Version's value (PY_VERSION_HEX: 0x030b02f0 is 3.11).
PythonVersion decode_py_version(std::uint64_t hex);

}  // namespace joulebench::detail
