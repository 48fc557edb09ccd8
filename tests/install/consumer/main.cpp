// Builds a runner from the toy config through the installed C++ package and trains it.
#include <mmhook/engine/runner.h>

#include <iostream>

#include <nlohmann/json.hpp>

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  auto runner = mmhook::Runner::from_file(argv[1]);
  runner->train();
  std::cout << "consumer trained " << runner->iter() << " iterations" << std::endl;
  return runner->iter() > 0 ? 0 : 1;
}
