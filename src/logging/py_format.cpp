#include "mmhook/logging/py_format.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace mmhook {
namespace {

std::string printf_double(const char* fmt, int digits, double x) {
  char buf[512];
  int n = std::snprintf(buf, sizeof(buf), fmt, digits, x);
  if (n >= 0 && static_cast<size_t>(n) < sizeof(buf))
    return std::string(buf, static_cast<size_t>(n));
  std::string out(static_cast<size_t>(n) + 1, '\0');
  std::snprintf(out.data(), out.size(), fmt, digits, x);
  out.resize(static_cast<size_t>(n));
  return out;
}

template <class Json>
void append_py_str(const Json& v, std::string* out, bool top) {
  switch (v.type()) {
    case nlohmann::json::value_t::null: *out += "None"; break;
    case nlohmann::json::value_t::boolean: *out += v.template get<bool>() ? "True" : "False"; break;
    case nlohmann::json::value_t::number_integer:
      *out += std::to_string(v.template get<int64_t>());
      break;
    case nlohmann::json::value_t::number_unsigned:
      *out += std::to_string(v.template get<uint64_t>());
      break;
    case nlohmann::json::value_t::number_float:
      *out += py_float_repr(v.template get<double>());
      break;
    case nlohmann::json::value_t::string:
      *out += top ? v.template get<std::string>() : py_str_repr(v.template get<std::string>());
      break;
    case nlohmann::json::value_t::array: {
      *out += '[';
      bool first = true;
      for (const auto& e : v) {
        if (!first) *out += ", ";
        first = false;
        append_py_str(e, out, false);
      }
      *out += ']';
      break;
    }
    case nlohmann::json::value_t::object: {
      *out += '{';
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) *out += ", ";
        first = false;
        *out += py_str_repr(it.key());
        *out += ": ";
        append_py_str(it.value(), out, false);
      }
      *out += '}';
      break;
    }
    default: *out += "<binary>"; break;
  }
}

void append_hex4(unsigned cp, std::string* out) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
  *out += buf;
}

// json.dumps(ensure_ascii=True) string escaping; invalid UTF-8 bytes are escaped as themselves.
void append_json_string(const std::string& s, std::string* out) {
  *out += '"';
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': *out += "\\\""; break;
        case '\\': *out += "\\\\"; break;
        case '\n': *out += "\\n"; break;
        case '\r': *out += "\\r"; break;
        case '\t': *out += "\\t"; break;
        case '\b': *out += "\\b"; break;
        case '\f': *out += "\\f"; break;
        default:
          if (c < 0x20)
            append_hex4(c, out);
          else
            *out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    unsigned cp = 0;
    size_t len = 0;
    if ((c & 0xE0) == 0xC0) {
      cp = c & 0x1F;
      len = 2;
    } else if ((c & 0xF0) == 0xE0) {
      cp = c & 0x0F;
      len = 3;
    } else if ((c & 0xF8) == 0xF0) {
      cp = c & 0x07;
      len = 4;
    }
    if (len == 0 || i + len > s.size()) {
      append_hex4(c, out);
      ++i;
      continue;
    }
    for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      append_hex4(0xD800 + (cp >> 10), out);
      append_hex4(0xDC00 + (cp & 0x3FF), out);
    } else {
      append_hex4(cp, out);
    }
    i += len;
  }
  *out += '"';
}

void append_json(const nlohmann::ordered_json& v, std::string* out) {
  switch (v.type()) {
    case nlohmann::json::value_t::null: *out += "null"; break;
    case nlohmann::json::value_t::boolean: *out += v.get<bool>() ? "true" : "false"; break;
    case nlohmann::json::value_t::number_integer: *out += std::to_string(v.get<int64_t>()); break;
    case nlohmann::json::value_t::number_unsigned: *out += std::to_string(v.get<uint64_t>()); break;
    case nlohmann::json::value_t::number_float: {
      double x = v.get<double>();
      if (std::isnan(x))
        *out += "NaN";
      else if (std::isinf(x))
        *out += x > 0 ? "Infinity" : "-Infinity";
      else
        *out += py_float_repr(x);
      break;
    }
    case nlohmann::json::value_t::string:
      append_json_string(v.get_ref<const std::string&>(), out);
      break;
    case nlohmann::json::value_t::array: {
      *out += '[';
      bool first = true;
      for (const auto& e : v) {
        if (!first) *out += ", ";
        first = false;
        append_json(e, out);
      }
      *out += ']';
      break;
    }
    case nlohmann::json::value_t::object: {
      *out += '{';
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) *out += ", ";
        first = false;
        append_json_string(it.key(), out);
        *out += ": ";
        append_json(it.value(), out);
      }
      *out += '}';
      break;
    }
    default: *out += "null"; break;
  }
}

}  // namespace

std::string py_float_repr(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  if (x == 0.0) return std::signbit(x) ? "-0.0" : "0.0";
  // Shortest "%.{p}e" that reads back exactly: the digits Python's repr uses.
  std::string sci;
  for (int p = 0; p <= 17; ++p) {
    sci = printf_double("%.*e", p, x);
    if (std::strtod(sci.c_str(), nullptr) == x) break;
  }
  std::string sign;
  size_t pos = 0;
  if (sci[0] == '-') {
    sign = "-";
    pos = 1;
  }
  size_t e_pos = sci.find('e');
  std::string digits;
  for (size_t i = pos; i < e_pos; ++i)
    if (sci[i] != '.') digits += sci[i];
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  const int exponent = std::atoi(sci.c_str() + e_pos + 1);
  const int decpt = exponent + 1;  // position of the decimal point relative to the digits
  const int nd = static_cast<int>(digits.size());
  std::string body;
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      body = "0." + std::string(static_cast<size_t>(-decpt), '0') + digits;
    } else if (decpt >= nd) {
      body = digits + std::string(static_cast<size_t>(decpt - nd), '0') + ".0";
    } else {
      body = digits.substr(0, static_cast<size_t>(decpt)) + "." +
             digits.substr(static_cast<size_t>(decpt));
    }
  } else {
    body = digits.substr(0, 1);
    if (nd > 1) body += "." + digits.substr(1);
    char buf[16];
    std::snprintf(buf, sizeof(buf), "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    body += buf;
  }
  return sign + body;
}

std::string py_format_fixed(double x, int digits) { return printf_double("%.*f", digits, x); }

std::string py_format_exp(double x, int digits) { return printf_double("%.*e", digits, x); }

std::string py_str_repr(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (ch == quote || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\r') {
      out += "\\r";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  out += quote;
  return out;
}

std::string py_str(const nlohmann::ordered_json& value) {
  std::string out;
  append_py_str(value, &out, true);
  return out;
}

std::string py_str(const nlohmann::json& value) {
  std::string out;
  append_py_str(value, &out, true);
  return out;
}

std::string py_json_dumps(const nlohmann::ordered_json& value) {
  std::string out;
  append_json(value, &out);
  return out;
}

std::string py_timedelta_str(int64_t seconds) {
  // timedelta normalises to days (possibly negative) plus 0 <= seconds < 86400.
  int64_t days = seconds / 86400;
  int64_t rem = seconds % 86400;
  if (rem < 0) {
    rem += 86400;
    days -= 1;
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", static_cast<long long>(rem / 3600),
                static_cast<long long>((rem / 60) % 60), static_cast<long long>(rem % 60));
  if (days == 0) return buf;
  std::string out = std::to_string(days) + (days == 1 || days == -1 ? " day, " : " days, ");
  return out + buf;
}

}  // namespace mmhook
