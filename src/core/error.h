// Error types used across toonreid. Every error a user can cause (bad config, bad
// data, bad arguments) is one of these, with a message that names the culprit.
#pragma once

#include <stdexcept>
#include <string>

namespace toonreid {

// Base of every toonreid error; the CLI prints what() and exits non-zero.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A configuration key, value or file is wrong.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// A data set, manifest or image is missing, unreadable or inconsistent.
class DataError : public Error {
 public:
  using Error::Error;
};

// An image is in a format toonreid does not decode (WebP, BMP, ...).
class UnsupportedFormatError : public DataError {
 public:
  using DataError::DataError;
};

}  // namespace toonreid
