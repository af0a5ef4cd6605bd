#!/bin/sh
echo hello from edge
