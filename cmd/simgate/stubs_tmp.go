package main

import (
	"context"
	"errors"
	"io"
)

var errTODO = errors.New("not wired yet")

func cmdServe(context.Context, []string, io.Writer, io.Writer) error    { return errTODO }
func cmdDemo(context.Context, []string, io.Writer, io.Writer) error     { return errTODO }
func cmdSim(context.Context, []string, io.Writer, io.Writer) error      { return errTODO }
func cmdKeys(context.Context, []string, io.Writer, io.Writer) error     { return errTODO }
func cmdBackup(context.Context, []string, io.Writer, io.Writer) error   { return errTODO }
