// _joulebench: the compiled core of `import joulebench` (python/joulebench/__init__.py adds the
// context manager, the decorator and CUDA synchronisation). A thin binding of
// include/joulebench/monitor.hpp: the figures are the C++ Monitor's, converted to Python types.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "joulebench/monitor.hpp"
#include "joulebench/units.hpp"

namespace py = pybind11;

namespace {

/// A Measurement as Python sees it: filled when its window ends (a `with` block's target exists
/// before the block runs).
class PyMeasurement {
 public:
  PyMeasurement() = default;
  explicit PyMeasurement(joulebench::Measurement m) : value_(std::move(m)), name_(value_->name) {}
  static PyMeasurement pending(std::string name) {
    PyMeasurement m;
    m.name_ = std::move(name);
    return m;
  }
  void fill(const PyMeasurement& other) { value_ = other.value_; }
  const std::string& name() const { return name_; }
  bool ready() const { return value_.has_value(); }
  const joulebench::Measurement& get() const {
    if (!value_) throw joulebench::MonitorError("window '" + name_ + "' is still open: its figures come when it ends");
    return *value_;
  }

 private:
  std::optional<joulebench::Measurement> value_;
  std::string name_;
};

class PyTotals : public PyMeasurement {
 public:
  explicit PyTotals(const joulebench::Totals& t) : PyMeasurement(t), calls_(t.calls) {}
  std::uint64_t calls() const { return calls_; }

 private:
  std::uint64_t calls_ = 0;
};

std::string repr(const PyMeasurement& m) {
  if (!m.ready()) return "<joulebench.Measurement '" + m.name() + "' (open)>";
  const auto& v = m.get();
  return "<joulebench.Measurement '" + v.name + "': " + std::to_string(v.time_s) + " s, " + std::to_string(v.total_j) +
         " J>";
}

joulebench::MonitorOptions options(std::vector<std::string> sources, double interval_s, double idle_s) {
  joulebench::MonitorOptions o;
  o.sources = std::move(sources);
  o.interval = std::chrono::duration<double>(interval_s);
  if (idle_s > 0) o.idle = std::chrono::duration<double>(idle_s);
  return o;
}

}  // namespace

PYBIND11_MODULE(_joulebench, m) {
  m.doc() = "The compiled core of joulebench's in-program API; use `import joulebench`.";
  py::register_exception<joulebench::MonitorError>(m, "Error", PyExc_RuntimeError);

  m.def(
      "parse_duration",
      [](const std::string& text) {
        try {
          return joulebench::parse_duration(text).count();
        } catch (const std::exception& e) {
          throw joulebench::MonitorError(e.what());
        }
      },
      py::arg("text"), "Seconds in a duration such as '100ms', '5s', '2min'.");

  py::class_<PyMeasurement>(m, "Measurement", "The time and energy of one window.")
      .def_static("_pending", &PyMeasurement::pending)
      .def("_fill", &PyMeasurement::fill)
      .def_property_readonly("name", &PyMeasurement::name)
      .def_property_readonly("time_s", [](const PyMeasurement& p) { return p.get().time_s; })
      .def_property_readonly("energy_j", [](const PyMeasurement& p) { return p.get().energy_j; })
      .def_property_readonly("total_j", [](const PyMeasurement& p) { return p.get().total_j; })
      .def_property_readonly("estimated", [](const PyMeasurement& p) { return p.get().estimated; })
      .def_property_readonly("complete", [](const PyMeasurement& p) { return p.get().complete; })
      .def_property_readonly("sources", [](const PyMeasurement& p) { return p.get().sources; })
      .def_property_readonly("dynamic_energy_j", [](const PyMeasurement& p) { return p.get().dynamic_energy_j; })
      .def_property_readonly("dynamic_total_j", [](const PyMeasurement& p) { return p.get().dynamic_total_j; })
      .def("to_json", [](const PyMeasurement& p) { return p.get().to_json(); })
      .def(
          "to_dict",
          [](const PyMeasurement& p) { return py::module_::import("json").attr("loads")(p.get().to_json()); },
          "The figures as `joulebench measure --json` writes its energy list: {name, time_s, energy: [...]}.")
      .def("__repr__", &repr);

  py::class_<PyTotals, PyMeasurement>(m, "Totals", "A tracked function's calls: their number, time and energy.")
      .def_property_readonly("calls", &PyTotals::calls);

  py::class_<joulebench::TrackedCall>(m, "_Call");

  // Readings and the idle baseline may wait (on the sources, on joulebench, on the idle time):
  // other Python threads run meanwhile.
  using release = py::call_guard<py::gil_scoped_release>;
  py::class_<joulebench::Monitor>(m, "Monitor", "The meter inside a program (see joulebench.Monitor).")
      .def(py::init([](std::vector<std::string> sources, double interval_s, double idle_s) {
             return std::make_unique<joulebench::Monitor>(options(std::move(sources), interval_s, idle_s));
           }),
           py::arg("sources"), py::arg("interval_s"), py::arg("idle_s"), release())
      .def("begin_window", &joulebench::Monitor::begin_window, py::arg("name"), release())
      .def(
          "end_window",
          [](joulebench::Monitor& monitor, const std::string& name) {
            joulebench::Measurement result;
            {
              py::gil_scoped_release unlocked;
              result = monitor.end_window(name);
            }
            return PyMeasurement(std::move(result));
          },
          py::arg("name"))
      .def("begin_call", &joulebench::Monitor::begin_call, py::arg("name"), release())
      .def(
          "end_call",
          [](joulebench::Monitor& monitor, joulebench::TrackedCall& call) { monitor.end_call(std::move(call)); },
          py::arg("call"), release())
      .def(
          "totals",
          [](const joulebench::Monitor& monitor, const std::string& name) { return PyTotals(monitor.totals(name)); },
          py::arg("name"))
      .def("tracked", &joulebench::Monitor::tracked)
      .def_property_readonly("under_joulebench", &joulebench::Monitor::under_joulebench)
      .def_property_readonly("sources", &joulebench::Monitor::sources)
      .def_property_readonly("idle_power_w", &joulebench::Monitor::idle_power_w);
}
